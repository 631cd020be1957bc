//! The patient directory's rules, without the database: phone numbers to
//! E.164 (so `+7 921 …`, `8 921 …` and `921 …` find the same card), what a
//! valid patient record is, and what the card shows on a given day (age,
//! pregnancy week and estimated due date).

use serde::{Deserialize, Serialize};

/// Normalises phone numbers to E.164 against a default region.
#[derive(Debug, Clone, Copy)]
pub struct PhoneNormalizer {
    region: phonenumber::country::Id,
}

impl PhoneNormalizer {
    /// `region` is an ISO 3166 code (`RU`, `FR`, `CN` …).
    pub fn new(region: &str) -> Result<PhoneNormalizer, String> {
        region
            .to_ascii_uppercase()
            .parse::<phonenumber::country::Id>()
            .map(|region| PhoneNormalizer { region })
            .map_err(|_| format!("`{region}` is not a country code (use e.g. RU, FR, CN)"))
    }

    /// Loads the numbering plan's metadata, which the library reads on first
    /// use (a tenth of a second): a server does it at start, not in the
    /// first caller's screen pop, which every pop behind it would wait for.
    /// The region's patterns are compiled now too; they sit in the library's
    /// bounded cache, so numbers from many other countries may evict them
    /// later (a millisecond or two to compile again).
    pub fn warm(&self) {
        let db = &*phonenumber::metadata::DATABASE;
        let Some(plan) = db.by_id(self.region.as_ref()) else {
            return;
        };
        // The region's own example numbers, written the ways callers'
        // numbers come (national with the trunk prefix, bare, international):
        // their patterns are compiled on first use too.
        let kinds = plan.descriptors();
        let examples = [kinds.fixed_line(), kinds.mobile()]
            .into_iter()
            .flatten()
            .filter_map(|d| d.example());
        for example in examples {
            let prefix = plan.national_prefix().unwrap_or("");
            let _ = self.e164(&format!("{prefix}{example}"));
            let _ = self.e164(example);
            let _ = self.e164(&format!("+{}{example}", plan.country_code()));
        }
    }

    /// `+79211234567` for any way of writing that number; an error saying
    /// why for text that is not a valid number.
    pub fn e164(&self, text: &str) -> Result<String, String> {
        let trimmed = text.trim();
        if trimmed.is_empty() {
            return Err("empty phone number".into());
        }
        let bad = || format!("`{trimmed}` is not a valid phone number");
        if !trimmed
            .chars()
            .all(|c| c.is_ascii_digit() || " +-.()\u{a0}".contains(c))
        {
            return Err(format!("`{trimmed}` is not a phone number"));
        }
        let digits: String = trimmed.chars().filter(char::is_ascii_digit).collect();
        let number = phonenumber::parse(Some(self.region), trimmed)
            .map_err(|_| format!("`{trimmed}` is not a phone number"))?;
        if phonenumber::is_valid(&number) {
            return Ok(number.format().mode(phonenumber::Mode::E164).to_string());
        }
        // The metadata does not know every range in use, and for some (St
        // Petersburg's 812) it strips one digit too many. A number it
        // refuses is kept as written when its length is plausible: turning
        // away a patient's real number is worse than storing an odd one.
        let e164 = if trimmed.starts_with('+') {
            format!("+{digits}")
        } else if let Some(rest) = digits.strip_prefix("00") {
            format!("+{rest}")
        } else {
            let code = number.code().value();
            // A national number with its trunk prefix (8… in Russia, 0… in
            // France) is one digit longer than the ten of most plans.
            let national = match digits.as_bytes() {
                [b'8' | b'0', rest @ ..] if rest.len() == 10 => &digits[1..],
                _ => &digits[..],
            };
            format!("+{code}{national}")
        };
        if (11..=16).contains(&e164.len()) {
            Ok(e164)
        } else {
            Err(bad())
        }
    }

    /// Like [`e164`](Self::e164), for numbers arriving from SIP (the From
    /// user part): `None` when it is not a phone number at all (an
    /// extension, `anonymous`).
    pub fn caller(&self, user: &str) -> Option<String> {
        if user.len() < 5
            || !user
                .trim_start_matches('+')
                .bytes()
                .all(|b| b.is_ascii_digit())
        {
            return None;
        }
        self.e164(user).ok()
    }
}

/// An id the clinic's information system gives (a patient's, an
/// appointment's): 1–64 letters, digits, `-`, `_` or `.`.
pub fn valid_clinic_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
}

/// A patient as the clinic's information system sends it (CSV row or
/// `PUT /api/patients/{mis_id}` body). Keyed by the clinic's own id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatientInput {
    /// Full name.
    pub full_name: String,
    /// Date of birth, `YYYY-MM-DD`.
    #[serde(default)]
    pub birth_date: Option<String>,
    /// How they like to be addressed ("Anna Petrovna", "Mr Martin").
    #[serde(default)]
    pub address_as: Option<String>,
    /// Phone numbers, any format the default region understands.
    pub phones: Vec<String>,
    /// Service-card notes.
    #[serde(default)]
    pub notes: ServiceNotes,
    /// Care pathway, if any.
    #[serde(default)]
    pub pathway: Option<Pathway>,
    /// Consent to data processing and calls.
    #[serde(default)]
    pub consent: bool,
    /// Consent to marketing calls.
    #[serde(default)]
    pub marketing: bool,
}

/// The service card: what every agent should know before they speak.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceNotes {
    /// Preferences (doctor, time of day, language …).
    #[serde(default)]
    pub preferences: String,
    /// What to remind them of by phone.
    #[serde(default)]
    pub reminders: String,
    /// Lateness.
    #[serde(default)]
    pub lateness: String,
    /// Difficulties (hearing, mobility …).
    #[serde(default)]
    pub difficulties: String,
    /// Negative experiences to be careful about.
    #[serde(default)]
    pub negative: String,
}

/// A care pathway.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Pathway {
    /// Pregnancy care, dated from the last menstrual period.
    Pregnancy {
        /// Last menstrual period, `YYYY-MM-DD`.
        lmp: String,
    },
}

/// A field that failed validation, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// The field (`phones`, `birth_date` …).
    pub field: &'static str,
    /// Why.
    pub reason: String,
}

/// A patient ready to store: validated, phones normalised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Patient {
    /// The clinic's id.
    pub mis_id: String,
    /// The validated input.
    pub input: PatientInput,
    /// E.164, deduplicated, in the order given.
    pub phones_e164: Vec<String>,
}

/// The columns of `patients import FILE.csv`; `mis_id`, `full_name` and
/// `phones` are required, the rest may be left out or empty.
pub const CSV_COLUMNS: &[&str] = &[
    "mis_id",
    "full_name",
    "birth_date",
    "address_as",
    "phones",
    "consent",
    "marketing",
    "pregnancy_lmp",
    "preferences",
    "reminders",
    "lateness",
    "difficulties",
    "negative",
];

/// Reads a patients CSV (header row naming [`CSV_COLUMNS`], phones
/// separated by `;`). Returns every patient, or every bad row with its
/// line and the field at fault: nothing is imported unless all are good.
pub fn read_patients_csv(
    data: &[u8],
    phones: &PhoneNormalizer,
    today: i64,
) -> Result<Vec<Patient>, Vec<crate::store::users::RowError>> {
    use crate::store::users::RowError;
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(data);
    let headers = match reader.headers() {
        Ok(h) => h.clone(),
        Err(e) => {
            return Err(vec![RowError {
                line: 1,
                reason: e.to_string(),
            }]);
        }
    };
    let col = |name: &str| headers.iter().position(|h| h.eq_ignore_ascii_case(name));
    if let Some(unknown) = headers
        .iter()
        .find(|h| !CSV_COLUMNS.iter().any(|c| c.eq_ignore_ascii_case(h)))
    {
        return Err(vec![RowError {
            line: 1,
            reason: format!(
                "unknown column `{unknown}` (known: {})",
                CSV_COLUMNS.join(",")
            ),
        }]);
    }
    for required in ["mis_id", "full_name", "phones"] {
        if col(required).is_none() {
            return Err(vec![RowError {
                line: 1,
                reason: format!("the header must have a `{required}` column"),
            }]);
        }
    }
    let mut out = Vec::new();
    let mut errors = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for record in reader.records() {
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line());
                errors.push(RowError {
                    line,
                    reason: e.to_string(),
                });
                continue;
            }
        };
        let line = record.position().map_or(0, |p| p.line());
        let get = |name: &str| {
            col(name)
                .and_then(|i| record.get(i))
                .unwrap_or("")
                .to_string()
        };
        let opt = |name: &str| Some(get(name)).filter(|v| !v.is_empty());
        let flag = |name: &str| -> Result<bool, String> {
            match get(name).to_ascii_lowercase().as_str() {
                "" | "0" | "no" | "false" => Ok(false),
                "1" | "yes" | "true" => Ok(true),
                other => Err(format!("{name}: `{other}` is not yes/no")),
            }
        };
        let row = (|| -> Result<Patient, String> {
            let input = PatientInput {
                full_name: get("full_name"),
                birth_date: opt("birth_date"),
                address_as: opt("address_as"),
                phones: get("phones")
                    .split(';')
                    .map(str::trim)
                    .filter(|p| !p.is_empty())
                    .map(str::to_string)
                    .collect(),
                notes: ServiceNotes {
                    preferences: get("preferences"),
                    reminders: get("reminders"),
                    lateness: get("lateness"),
                    difficulties: get("difficulties"),
                    negative: get("negative"),
                },
                pathway: opt("pregnancy_lmp").map(|lmp| Pathway::Pregnancy { lmp }),
                consent: flag("consent")?,
                marketing: flag("marketing")?,
            };
            input
                .validate(&get("mis_id"), phones, today)
                .map_err(|e| format!("{}: {}", e.field, e.reason))
        })();
        match row {
            Ok(p) if !seen.insert(p.mis_id.clone()) => errors.push(RowError {
                line,
                reason: format!("mis_id {} appears twice in the file", p.mis_id),
            }),
            Ok(p) => out.push(p),
            Err(reason) => errors.push(RowError { line, reason }),
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

/// Days since 1970-01-01 of a `YYYY-MM-DD` date.
pub fn parse_date(s: &str) -> Result<i64, String> {
    if s.len() != 10 {
        return Err(format!("`{s}` is not a date (YYYY-MM-DD)"));
    }
    crate::timefmt::parse_utc(s)
        .map(|ms| ms.div_euclid(86_400_000))
        .map_err(|_| format!("`{s}` is not a date (YYYY-MM-DD)"))
}

impl PatientInput {
    /// Checks every field and normalises the phones; `today` (days since
    /// 1970-01-01) rules out dates of birth in the future.
    pub fn validate(
        self,
        mis_id: &str,
        phones: &PhoneNormalizer,
        today: i64,
    ) -> Result<Patient, FieldError> {
        let err = |field, reason: String| Err(FieldError { field, reason });
        if !valid_clinic_id(mis_id) {
            return err(
                "mis_id",
                format!("`{mis_id}`: use 1–64 letters, digits, '-', '_' or '.'"),
            );
        }
        if self.full_name.trim().is_empty() {
            return err("full_name", "a name is required".into());
        }
        if let Some(b) = &self.birth_date {
            let day = parse_date(b).map_err(|reason| FieldError {
                field: "birth_date",
                reason,
            })?;
            if day > today {
                return err("birth_date", format!("`{b}` is in the future"));
            }
        }
        if let Some(Pathway::Pregnancy { lmp }) = &self.pathway {
            let day = parse_date(lmp).map_err(|reason| FieldError {
                field: "pathway.lmp",
                reason,
            })?;
            if day > today {
                return err("pathway.lmp", format!("`{lmp}` is in the future"));
            }
        }
        if self.phones.is_empty() {
            return err("phones", "at least one phone number is required".into());
        }
        let mut e164 = Vec::new();
        for p in &self.phones {
            let n = phones.e164(p).map_err(|reason| FieldError {
                field: "phones",
                reason,
            })?;
            if !e164.contains(&n) {
                e164.push(n);
            }
        }
        Ok(Patient {
            mis_id: mis_id.to_string(),
            input: self,
            phones_e164: e164,
        })
    }
}

/// What the card shows about dates, on `today`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CardDates {
    /// Full years.
    pub age: Option<u32>,
    /// Pregnancy: estimated due date (LMP + 280 days), `YYYY-MM-DD`.
    pub edd: Option<String>,
    /// Pregnancy: completed weeks since the LMP.
    pub pregnancy_week: Option<i64>,
    /// Pregnancy: and days.
    pub pregnancy_day: Option<i64>,
}

/// Age, and the pregnancy week and due date (Naegele's rule) on `today`.
pub fn card_dates(input: &PatientInput, today: i64) -> CardDates {
    let age = input
        .birth_date
        .as_deref()
        .and_then(|b| full_years(b, today));
    let lmp = match &input.pathway {
        Some(Pathway::Pregnancy { lmp }) => parse_date(lmp).ok(),
        None => None,
    };
    CardDates {
        age,
        edd: lmp.map(|l| date_of(l + 280)),
        pregnancy_week: lmp.map(|l| (today - l).div_euclid(7)),
        pregnancy_day: lmp.map(|l| (today - l).rem_euclid(7)),
    }
}

fn full_years(birth: &str, today: i64) -> Option<u32> {
    let b = birth.get(..10)?;
    let t = date_of(today);
    let (by, bmd) = (b[..4].parse::<i64>().ok()?, &b[5..]);
    let (ty, tmd) = (t[..4].parse::<i64>().ok()?, &t[5..]);
    let years = ty - by - i64::from(tmd < bmd);
    u32::try_from(years).ok()
}

/// `YYYY-MM-DD` of a day number.
pub fn date_of(day: i64) -> String {
    crate::timefmt::format_utc(day * 86_400_000)[..10].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ru() -> PhoneNormalizer {
        PhoneNormalizer::new("RU").unwrap()
    }

    fn today() -> i64 {
        parse_date("2026-11-24").unwrap()
    }

    fn anna() -> PatientInput {
        PatientInput {
            full_name: "Anna Petrova".into(),
            birth_date: Some("1990-11-25".into()),
            address_as: Some("Anna Sergeevna".into()),
            phones: vec!["+7 921 123-45-67".into()],
            notes: ServiceNotes::default(),
            pathway: Some(Pathway::Pregnancy {
                lmp: "2026-06-01".into(),
            }),
            consent: true,
            marketing: false,
        }
    }

    #[test]
    fn every_way_of_writing_a_number_gives_the_same_e164() {
        for written in [
            "+79211234567",
            "+7 921 123-45-67",
            "8 921 123 45 67",
            "8(921)1234567",
            "921 123 45 67",
            "79211234567",
        ] {
            assert_eq!(
                ru().e164(written).as_deref(),
                Ok("+79211234567"),
                "{written}"
            );
        }
        for written in [
            "+7 812 450-12-34",
            "8 812 450 12 34",
            "812 450 12 34",
            "00 7 812 450 12 34",
        ] {
            assert_eq!(
                ru().e164(written).as_deref(),
                Ok("+78124501234"),
                "{written}"
            );
        }
        let fr = PhoneNormalizer::new("fr").unwrap();
        assert_eq!(fr.e164("01 42 68 53 00").as_deref(), Ok("+33142685300"));
        assert_eq!(
            ru().e164("+33 1 42 68 53 00").as_deref(),
            Ok("+33142685300")
        );
    }

    /// Start-up warms the normaliser for the configured region: that must
    /// work for any region the config accepts, and change no answer.
    #[test]
    fn warming_up_works_for_any_region_and_changes_no_answer() {
        let written = [
            "+7 921 123-45-67",
            "8 921 123 45 67",
            "01 42 68 53 00",
            "+33 1 42 68 53 00",
            "(212) 555-0100",
            "12",
        ];
        for region in ["RU", "FR", "CN", "US", "DE", "GB", "IN", "KZ", "BY", "JP"] {
            let phones = PhoneNormalizer::new(region).unwrap();
            let before: Vec<_> = written.iter().map(|w| phones.e164(w)).collect();
            phones.warm();
            let after: Vec<_> = written.iter().map(|w| phones.e164(w)).collect();
            assert_eq!(before, after, "{region}");
        }
        let ru = ru();
        ru.warm();
        assert_eq!(ru.e164("8 921 123 45 67").as_deref(), Ok("+79211234567"));
    }

    #[test]
    fn what_is_not_a_number_is_refused_with_the_reason() {
        for bad in ["", "  ", "hello", "12", "+7 921"] {
            assert!(ru().e164(bad).is_err(), "{bad:?}");
        }
        assert!(PhoneNormalizer::new("XX").is_err());
        assert_eq!(
            ru().caller("1001"),
            None,
            "an extension is not a patient's number"
        );
        assert_eq!(ru().caller("anonymous"), None);
        assert_eq!(ru().caller("89211234567").as_deref(), Some("+79211234567"));
    }

    #[test]
    fn validation_names_the_field() {
        let p = anna().validate("mis-42", &ru(), today()).unwrap();
        assert_eq!(p.phones_e164, ["+79211234567"]);
        let cases: Vec<(PatientInput, &str, &str)> = vec![
            (
                PatientInput {
                    full_name: " ".into(),
                    ..anna()
                },
                "mis-1",
                "full_name",
            ),
            (
                PatientInput {
                    birth_date: Some("1990-02-30".into()),
                    ..anna()
                },
                "mis-1",
                "birth_date",
            ),
            (
                PatientInput {
                    birth_date: Some("2027-01-01".into()),
                    ..anna()
                },
                "mis-1",
                "birth_date",
            ),
            (
                PatientInput {
                    phones: vec![],
                    ..anna()
                },
                "mis-1",
                "phones",
            ),
            (
                PatientInput {
                    phones: vec!["+7 921 123-45-67".into(), "call me".into()],
                    ..anna()
                },
                "mis-1",
                "phones",
            ),
            (
                PatientInput {
                    pathway: Some(Pathway::Pregnancy { lmp: "soon".into() }),
                    ..anna()
                },
                "mis-1",
                "pathway.lmp",
            ),
            (anna(), "", "mis_id"),
            (anna(), "a/b", "mis_id"),
        ];
        for (input, id, field) in cases {
            let e = input.validate(id, &ru(), today()).unwrap_err();
            assert_eq!(e.field, field, "{}", e.reason);
        }
    }

    #[test]
    fn same_number_twice_is_kept_once() {
        let p = PatientInput {
            phones: vec!["8 921 123 45 67".into(), "+79211234567".into()],
            ..anna()
        }
        .validate("mis-42", &ru(), today())
        .unwrap();
        assert_eq!(p.phones_e164, ["+79211234567"]);
    }

    #[test]
    fn csv_import_reports_every_bad_row_and_keeps_nothing() {
        let good = "mis_id,full_name,birth_date,phones,consent,pregnancy_lmp,reminders\n\
                    mis-1,Anna Petrova,1990-11-25,+7 921 123-45-67;8 812 450 12 34,yes,2026-06-01,bring the scan\n\
                    mis-2,Ivan Ivanov,,921 000 00 01,no,,\n";
        let patients = read_patients_csv(good.as_bytes(), &ru(), today()).unwrap();
        assert_eq!(patients.len(), 2);
        assert_eq!(patients[0].phones_e164, ["+79211234567", "+78124501234"]);
        assert_eq!(patients[0].input.notes.reminders, "bring the scan");
        assert!(patients[0].input.consent);
        assert_eq!(
            patients[0].input.pathway,
            Some(Pathway::Pregnancy {
                lmp: "2026-06-01".into()
            })
        );
        assert_eq!(patients[1].input.birth_date, None);

        let bad = "mis_id,full_name,phones,consent\n\
                   mis-1,Anna,+7 921 123-45-67,yes\n\
                   mis-2,,+7 921 123-45-68,no\n\
                   mis-3,Oleg,not a phone,no\n\
                   mis-1,Anna again,+7 921 123-45-69,no\n\
                   mis-5,Vera,+7 921 123-45-60,maybe\n";
        let errors = read_patients_csv(bad.as_bytes(), &ru(), today()).unwrap_err();
        let got: Vec<(u64, bool)> = errors
            .iter()
            .map(|e| (e.line, !e.reason.is_empty()))
            .collect();
        assert_eq!(got, [(3, true), (4, true), (5, true), (6, true)]);
        assert!(
            errors[0].reason.starts_with("full_name"),
            "{}",
            errors[0].reason
        );
        assert!(
            errors[1].reason.starts_with("phones"),
            "{}",
            errors[1].reason
        );
        assert!(errors[2].reason.contains("twice"), "{}", errors[2].reason);
        assert!(
            errors[3].reason.starts_with("consent"),
            "{}",
            errors[3].reason
        );

        let header = read_patients_csv(b"mis_id,name,phones\n", &ru(), today()).unwrap_err();
        assert!(
            header[0].reason.contains("unknown column `name`"),
            "{}",
            header[0].reason
        );
    }

    #[test]
    fn card_shows_age_and_pregnancy_dates() {
        let d = card_dates(&anna(), today());
        // Born 1990-11-25: 36 tomorrow, 35 today.
        assert_eq!(d.age, Some(35));
        // LMP 2026-06-01 + 280 days.
        assert_eq!(d.edd.as_deref(), Some("2027-03-08"));
        // 176 days since the LMP: 25 weeks and 1 day.
        assert_eq!((d.pregnancy_week, d.pregnancy_day), (Some(25), Some(1)));
        let on_birthday = card_dates(&anna(), parse_date("2026-11-25").unwrap());
        assert_eq!(on_birthday.age, Some(36));
        let no_pathway = card_dates(
            &PatientInput {
                pathway: None,
                ..anna()
            },
            today(),
        );
        assert_eq!((no_pathway.edd, no_pathway.pregnancy_week), (None, None));
    }
}
