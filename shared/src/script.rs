//! Script prompts (DESIGN §1): what the agent says, stage by stage, in the
//! agent's language, filled with the caller's data. The clinics' rules
//! behind them: greet by the time of day (morning 07–11, day 11–17,
//! evening 17–22), ask how to address the caller, say "stay on the line"
//! before a hold and thank them on return, say who is taking over before a
//! transfer, and close by repeating what was agreed.
//!
//! Templates name their data in braces (`{clinic}`, `{address_as}`); a
//! datum the card does not have stays visible as `[name]` and is reported,
//! so the screen can show the agent what to ask. `{{` and `}}` are literal
//! braces. The default set ships here; clinics replace it with their own.

/// The part of the day a greeting is chosen by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DayPart {
    /// 07:00–10:59.
    Morning,
    /// 11:00–16:59.
    Day,
    /// 17:00–21:59.
    Evening,
    /// 22:00–06:59 (a neutral greeting).
    Night,
}

/// The part of the day at `minutes` after local midnight.
pub fn day_part(minutes: u32) -> DayPart {
    match (minutes % (24 * 60)) / 60 {
        7..=10 => DayPart::Morning,
        11..=16 => DayPart::Day,
        17..=21 => DayPart::Evening,
        _ => DayPart::Night,
    }
}

/// The languages the agent's screen speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    /// English.
    En,
    /// Russian.
    Ru,
    /// French.
    Fr,
    /// Chinese (simplified).
    Zh,
}

impl Lang {
    /// Every language, in a stable order.
    pub const ALL: [Lang; 4] = [Lang::En, Lang::Ru, Lang::Fr, Lang::Zh];

    /// From a locale such as `ru_RU.UTF-8` or `fr`; English otherwise.
    pub fn from_locale(locale: &str) -> Lang {
        match locale.get(..2).map(str::to_ascii_lowercase).as_deref() {
            Some("ru") => Lang::Ru,
            Some("fr") => Lang::Fr,
            Some("zh") => Lang::Zh,
            _ => Lang::En,
        }
    }
}

/// A call's stages, in the order they come.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// The first words.
    Greeting,
    /// How may I address you?
    AddressAs,
    /// What the call is about.
    Purpose,
    /// Before putting the caller on hold.
    Hold,
    /// Back from the hold.
    HoldReturn,
    /// Before handing the caller on.
    Transfer,
    /// Repeat what was agreed; anything else; thanks.
    Closing,
}

impl Stage {
    /// Every stage, in order.
    pub const ALL: [Stage; 7] = [
        Stage::Greeting,
        Stage::AddressAs,
        Stage::Purpose,
        Stage::Hold,
        Stage::HoldReturn,
        Stage::Transfer,
        Stage::Closing,
    ];
}

/// What kind of call the script is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallType {
    /// A patient called in.
    Inbound,
    /// We call back after the line broke off.
    CallbackAfterDrop,
    /// We call to confirm an appointment.
    AppointmentConfirmation,
    /// We call after a visit about the patient's NPS score and comment.
    NpsFollowUp,
    /// A patient asks for a doctor's home visit.
    HomeVisit,
}

impl CallType {
    /// Every call type.
    pub const ALL: [CallType; 5] = [
        CallType::Inbound,
        CallType::CallbackAfterDrop,
        CallType::AppointmentConfirmation,
        CallType::NpsFollowUp,
        CallType::HomeVisit,
    ];

    /// Its name in data (scripts files, the API).
    pub fn name(self) -> &'static str {
        match self {
            CallType::Inbound => "inbound",
            CallType::CallbackAfterDrop => "callback_after_drop",
            CallType::AppointmentConfirmation => "appointment_confirmation",
            CallType::NpsFollowUp => "nps_follow_up",
            CallType::HomeVisit => "home_visit",
        }
    }

    /// Whether the patient called us (the greeting says "speaking").
    pub fn is_inbound(self) -> bool {
        matches!(self, CallType::Inbound | CallType::HomeVisit)
    }
}

impl Stage {
    /// Its name in data.
    pub fn name(self) -> &'static str {
        match self {
            Stage::Greeting => "greeting",
            Stage::AddressAs => "address_as",
            Stage::Purpose => "purpose",
            Stage::Hold => "hold",
            Stage::HoldReturn => "hold_return",
            Stage::Transfer => "transfer",
            Stage::Closing => "closing",
        }
    }
}

impl DayPart {
    /// Every part of the day.
    pub const ALL: [DayPart; 4] = [
        DayPart::Morning,
        DayPart::Day,
        DayPart::Evening,
        DayPart::Night,
    ];

    /// Its name in data.
    pub fn name(self) -> &'static str {
        match self {
            DayPart::Morning => "morning",
            DayPart::Day => "day",
            DayPart::Evening => "evening",
            DayPart::Night => "night",
        }
    }
}

impl Lang {
    /// Its code in data (`en`, `ru`, `fr`, `zh`).
    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Ru => "ru",
            Lang::Fr => "fr",
            Lang::Zh => "zh",
        }
    }
}

/// The data templates may name.
pub const FIELDS: [&str; 11] = [
    "score",
    "comment",
    "clinic",
    "agent",
    "address_as",
    "target",
    "reason",
    "service",
    "date",
    "time",
    "doctor",
];

/// A filled template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filled {
    /// The text to show.
    pub text: String,
    /// The data it needed and did not get (shown as `[name]`).
    pub missing: Vec<String>,
}

/// Fills `{name}` placeholders from `value`.
pub fn fill(template: &str, value: impl Fn(&str) -> Option<String>) -> Filled {
    let mut text = String::with_capacity(template.len() + 32);
    let mut missing = Vec::new();
    let mut rest = template;
    while let Some(i) = rest.find(['{', '}']) {
        text.push_str(&rest[..i]);
        let tail = &rest[i..];
        if tail.starts_with("{{") || tail.starts_with("}}") {
            text.push_str(&tail[..1]);
            rest = &tail[2..];
            continue;
        }
        match (tail.starts_with('{'), tail.find('}')) {
            (true, Some(end)) => {
                let name = &tail[1..end];
                match value(name).filter(|v| !v.trim().is_empty()) {
                    Some(v) => text.push_str(&v),
                    None => {
                        text.push('[');
                        text.push_str(name);
                        text.push(']');
                        if !missing.iter().any(|m| m == name) {
                            missing.push(name.to_string());
                        }
                    }
                }
                rest = &tail[end + 1..];
            }
            // A lone brace is kept as it is.
            _ => {
                text.push_str(&tail[..1]);
                rest = &tail[1..];
            }
        }
    }
    text.push_str(rest);
    Filled { text, missing }
}

/// The default phrase for `stage` of a `call` in `lang`, at `part` of the
/// day (only the greeting depends on it).
pub fn phrase(lang: Lang, call: CallType, stage: Stage, part: DayPart) -> &'static str {
    use CallType::*;
    use Stage::*;
    match (lang, stage) {
        (_, Greeting) => greeting(lang, call, part),
        (Lang::En, AddressAs) => "How may I address you?",
        (Lang::Ru, AddressAs) => "Подскажите, пожалуйста, как я могу к вам обращаться?",
        (Lang::Fr, AddressAs) => "Comment puis-je m'adresser à vous ?",
        (Lang::Zh, AddressAs) => "请问怎么称呼您？",
        (Lang::En, Purpose) => match call {
            Inbound => "How may I help you, {address_as}?",
            CallbackAfterDrop => {
                "We were cut off, {address_as}, so I am calling you back. Where were we?"
            }
            AppointmentConfirmation => {
                "I am calling to confirm your appointment for {service} with {doctor} on {date} at {time}. Does that still suit you?"
            }
            NpsFollowUp => {
                "{address_as}, after your visit you gave us {score} out of 10 and wrote: \"{comment}\". May I ask you a few questions about it?"
            }
            HomeVisit => {
                "I will arrange a doctor's visit at home. I need the patient's full name, date of birth, the address and district, the symptoms and since when, and whether anyone around has been ill or travelled recently."
            }
        },
        (Lang::Ru, Purpose) => match call {
            Inbound => "Чем я могу вам помочь, {address_as}?",
            CallbackAfterDrop => {
                "{address_as}, наш разговор прервался, я вам перезваниваю. На чём мы остановились?"
            }
            AppointmentConfirmation => {
                "Я звоню подтвердить вашу запись: {service}, врач {doctor}, {date} в {time}. Вам по-прежнему удобно?"
            }
            NpsFollowUp => {
                "{address_as}, после визита вы поставили нам {score} из 10 и написали: «{comment}». Можно задать вам несколько вопросов?"
            }
            HomeVisit => {
                "Я оформлю вызов врача на дом. Назовите, пожалуйста, ФИО пациента, дату рождения, адрес и район, симптомы и с какого времени, и не болел ли кто-то рядом, не было ли поездок."
            }
        },
        (Lang::Fr, Purpose) => match call {
            Inbound => "Que puis-je faire pour vous, {address_as} ?",
            CallbackAfterDrop => {
                "Nous avons été coupés, {address_as}, je vous rappelle. Où en étions-nous ?"
            }
            AppointmentConfirmation => {
                "Je vous appelle pour confirmer votre rendez-vous : {service} avec {doctor} le {date} à {time}. Cela vous convient-il toujours ?"
            }
            NpsFollowUp => {
                "{address_as}, après votre visite vous nous avez donné {score} sur 10 avec ce commentaire : « {comment} ». Puis-je vous poser quelques questions ?"
            }
            HomeVisit => {
                "Je vais organiser la visite d'un médecin à domicile. Il me faut le nom du patient, sa date de naissance, l'adresse et le quartier, les symptômes et depuis quand, et si quelqu'un autour a été malade ou a voyagé récemment."
            }
        },
        (Lang::Zh, Purpose) => match call {
            Inbound => "{address_as}，请问有什么可以帮您？",
            CallbackAfterDrop => "{address_as}，刚才通话中断了，我给您回电。我们刚才说到哪里了？",
            AppointmentConfirmation => {
                "我打电话是想确认您的预约：{date} {time}，{doctor}，{service}。这个时间您还方便吗？"
            }
            NpsFollowUp => {
                "{address_as}，您就诊后给我们打了{score}分（满分10分），并留言：“{comment}”。可以请您回答几个问题吗？"
            }
            HomeVisit => {
                "我来为您安排医生上门。请告诉我患者的姓名、出生日期、地址和所在区、症状及开始时间，以及身边是否有人生病或近期是否出行。"
            }
        },
        (Lang::En, Hold) => "Please stay on the line, I will check that for you.",
        (Lang::Ru, Hold) => "Пожалуйста, оставайтесь на линии, я уточню.",
        (Lang::Fr, Hold) => "Restez en ligne, s'il vous plaît, je vérifie.",
        (Lang::Zh, Hold) => "请您稍等，不要挂机，我帮您查一下。",
        (Lang::En, HoldReturn) => "Thank you for waiting, {address_as}.",
        (Lang::Ru, HoldReturn) => "Спасибо за ожидание, {address_as}.",
        (Lang::Fr, HoldReturn) => "Merci de votre patience, {address_as}.",
        (Lang::Zh, HoldReturn) => "{address_as}，感谢您的耐心等待。",
        (Lang::En, Transfer) => {
            "I will put you through to {target}, who can help with {reason}. Please stay on the line."
        }
        (Lang::Ru, Transfer) => {
            "Я переключу вас на {target}, вам помогут с вопросом: {reason}. Пожалуйста, оставайтесь на линии."
        }
        (Lang::Fr, Transfer) => {
            "Je vous passe {target}, qui pourra vous aider pour : {reason}. Restez en ligne, s'il vous plaît."
        }
        (Lang::Zh, Transfer) => "我为您转接{target}，他们可以帮您处理：{reason}。请不要挂机。",
        (Lang::En, Closing) => {
            "So: {service} on {date} at {time}. Is there anything else I can help you with? Thank you for calling {clinic}."
        }
        (Lang::Ru, Closing) => {
            "Итак: {service}, {date} в {time}. Могу ли я ещё чем-то помочь? Спасибо, что обратились в {clinic}."
        }
        (Lang::Fr, Closing) => {
            "Donc : {service} le {date} à {time}. Puis-je faire autre chose pour vous ? Merci d'avoir appelé {clinic}."
        }
        (Lang::Zh, Closing) => {
            "和您确认一下：{date} {time}，{service}。还有其他需要帮忙的吗？感谢您致电{clinic}。"
        }
    }
}

fn greeting(lang: Lang, call: CallType, part: DayPart) -> &'static str {
    let inbound = call.is_inbound();
    match (lang, part, inbound) {
        (Lang::En, DayPart::Morning, true) => "Good morning, {clinic}, {agent} speaking.",
        (Lang::En, DayPart::Day, true) => "Good afternoon, {clinic}, {agent} speaking.",
        (Lang::En, DayPart::Evening, true) => "Good evening, {clinic}, {agent} speaking.",
        (Lang::En, DayPart::Night, true) => "Hello, {clinic}, {agent} speaking.",
        (Lang::En, DayPart::Morning, false) => "Good morning, this is {agent} from {clinic}.",
        (Lang::En, DayPart::Day, false) => "Good afternoon, this is {agent} from {clinic}.",
        (Lang::En, DayPart::Evening, false) => "Good evening, this is {agent} from {clinic}.",
        (Lang::En, DayPart::Night, false) => "Hello, this is {agent} from {clinic}.",
        (Lang::Ru, DayPart::Morning, true) => "Доброе утро, {clinic}, {agent}, слушаю вас.",
        (Lang::Ru, DayPart::Day, true) => "Добрый день, {clinic}, {agent}, слушаю вас.",
        (Lang::Ru, DayPart::Evening, true) => "Добрый вечер, {clinic}, {agent}, слушаю вас.",
        (Lang::Ru, DayPart::Night, true) => "Здравствуйте, {clinic}, {agent}, слушаю вас.",
        (Lang::Ru, DayPart::Morning, false) => "Доброе утро, это {agent}, {clinic}.",
        (Lang::Ru, DayPart::Day, false) => "Добрый день, это {agent}, {clinic}.",
        (Lang::Ru, DayPart::Evening, false) => "Добрый вечер, это {agent}, {clinic}.",
        (Lang::Ru, DayPart::Night, false) => "Здравствуйте, это {agent}, {clinic}.",
        (Lang::Fr, DayPart::Morning | DayPart::Day, true) => {
            "Bonjour, {clinic}, {agent} à l'appareil."
        }
        (Lang::Fr, DayPart::Evening | DayPart::Night, true) => {
            "Bonsoir, {clinic}, {agent} à l'appareil."
        }
        (Lang::Fr, DayPart::Morning | DayPart::Day, false) => "Bonjour, ici {agent}, de {clinic}.",
        (Lang::Fr, DayPart::Evening | DayPart::Night, false) => {
            "Bonsoir, ici {agent}, de {clinic}."
        }
        (Lang::Zh, DayPart::Morning, true) => "早上好，这里是{clinic}，我是{agent}。",
        (Lang::Zh, DayPart::Day, true) => "下午好，这里是{clinic}，我是{agent}。",
        (Lang::Zh, DayPart::Evening, true) => "晚上好，这里是{clinic}，我是{agent}。",
        (Lang::Zh, DayPart::Night, true) => "您好，这里是{clinic}，我是{agent}。",
        (Lang::Zh, DayPart::Morning, false) => "早上好，我是{clinic}的{agent}。",
        (Lang::Zh, DayPart::Day, false) => "下午好，我是{clinic}的{agent}。",
        (Lang::Zh, DayPart::Evening, false) => "晚上好，我是{clinic}的{agent}。",
        (Lang::Zh, DayPart::Night, false) => "您好，我是{clinic}的{agent}。",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_greeting_changes_exactly_at_seven_eleven_seventeen_and_twenty_two() {
        let at = |h: u32, m: u32| day_part(h * 60 + m);
        assert_eq!(at(6, 59), DayPart::Night);
        assert_eq!(at(7, 0), DayPart::Morning);
        assert_eq!(at(10, 59), DayPart::Morning);
        assert_eq!(at(11, 0), DayPart::Day);
        assert_eq!(at(16, 59), DayPart::Day);
        assert_eq!(at(17, 0), DayPart::Evening);
        assert_eq!(at(21, 59), DayPart::Evening);
        assert_eq!(at(22, 0), DayPart::Night);
        assert_eq!(at(0, 0), DayPart::Night);
        assert_eq!(
            day_part(24 * 60 + 7 * 60),
            DayPart::Morning,
            "wraps at midnight"
        );
        let g = |part| phrase(Lang::Ru, CallType::Inbound, Stage::Greeting, part);
        assert!(g(DayPart::Morning).starts_with("Доброе утро"));
        assert!(g(DayPart::Day).starts_with("Добрый день"));
        assert!(g(DayPart::Evening).starts_with("Добрый вечер"));
    }

    #[test]
    fn placeholders_are_filled_and_what_is_missing_is_shown_and_reported() {
        let card = |name: &str| match name {
            "address_as" => Some("Anna Sergeevna".to_string()),
            "clinic" => Some("Clinic on Nevsky".to_string()),
            "service" => Some("   ".to_string()),
            _ => None,
        };
        let f = fill(
            "Thank you, {address_as}. {service} on {date} at {date}? {{literal}} {clinic}",
            card,
        );
        assert_eq!(
            f.text,
            "Thank you, Anna Sergeevna. [service] on [date] at [date]? {literal} Clinic on Nevsky"
        );
        assert_eq!(
            f.missing,
            ["service", "date"],
            "blank counts as missing, once each"
        );
        assert_eq!(
            fill("a { b", |_| None).text,
            "a { b",
            "a lone brace is kept"
        );
        assert_eq!(fill("a } b", |_| None).text, "a } b");
    }

    #[test]
    fn every_stage_of_every_script_is_there_in_every_language_with_known_fields() {
        let parts = [
            DayPart::Morning,
            DayPart::Day,
            DayPart::Evening,
            DayPart::Night,
        ];
        for lang in Lang::ALL {
            for call in CallType::ALL {
                for stage in Stage::ALL {
                    for part in parts {
                        let text = phrase(lang, call, stage, part);
                        assert!(!text.trim().is_empty(), "{lang:?} {call:?} {stage:?}");
                        let f = fill(text, |name| FIELDS.contains(&name).then(|| "x".to_string()));
                        assert!(
                            f.missing.is_empty(),
                            "{lang:?} {call:?} {stage:?} names unknown data: {:?}",
                            f.missing
                        );
                    }
                }
            }
        }
        // The languages differ (no English left in another's script).
        let hold = |l| phrase(l, CallType::Inbound, Stage::Hold, DayPart::Day);
        assert_ne!(hold(Lang::En), hold(Lang::Ru));
        assert_ne!(hold(Lang::Fr), hold(Lang::Zh));
        assert_eq!(Lang::from_locale("ru_RU.UTF-8"), Lang::Ru);
        assert_eq!(Lang::from_locale("zh_CN"), Lang::Zh);
        assert_eq!(Lang::from_locale("de_DE"), Lang::En);
        assert_eq!(Lang::from_locale(""), Lang::En);
    }
}
