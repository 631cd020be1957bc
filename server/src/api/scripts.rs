//! `GET /api/scripts`: the script prompts agents' screens show, as data.
//! The default set (four languages, every call type and stage, greetings by
//! the part of the day) ships with the server; a clinic's own wording comes
//! from `[scripts] file`, a TOML file that overrides any phrase:
//!
//! ```toml
//! [ru.inbound]
//! purpose = "Чем могу помочь, {address_as}?"
//! [ru.inbound.greeting]
//! morning = "Доброе утро, клиника «{clinic}», {agent}."
//! ```
//!
//! Placeholders must be ones the screen can fill (`careline_shared::script::FIELDS`);
//! a file that names another, or an unknown language, call type, stage or
//! part of the day, is refused at start-up with the phrase's path.

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use careline_shared::script::{self, CallType, DayPart, FIELDS, Lang, Stage};
use serde_json::{Map, Value, json};

use super::AppState;
use super::auth::principal;
use super::error::ApiError;

/// `GET /api/scripts`: for anyone logged in.
pub(crate) async fn get(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    principal(&state, &headers).await?;
    Ok(Json((*state.scripts).clone()).into_response())
}

/// The built-in set, for the clinic called `clinic`.
pub fn default_document(clinic: &str) -> Value {
    let mut phrases = Map::new();
    for lang in Lang::ALL {
        let mut calls = Map::new();
        for call in CallType::ALL {
            let mut stages = Map::new();
            for stage in Stage::ALL {
                let value = if stage == Stage::Greeting {
                    let parts: Map<String, Value> = DayPart::ALL
                        .iter()
                        .map(|&p| {
                            (
                                p.name().to_string(),
                                script::phrase(lang, call, stage, p).into(),
                            )
                        })
                        .collect();
                    Value::Object(parts)
                } else {
                    script::phrase(lang, call, stage, DayPart::Day).into()
                };
                stages.insert(stage.name().into(), value);
            }
            calls.insert(call.name().into(), Value::Object(stages));
        }
        phrases.insert(lang.code().into(), Value::Object(calls));
    }
    json!({
        "clinic": clinic,
        "languages": Lang::ALL.iter().map(|l| l.code()).collect::<Vec<_>>(),
        "call_types": CallType::ALL.iter().map(|c| c.name()).collect::<Vec<_>>(),
        "stages": Stage::ALL.iter().map(|s| s.name()).collect::<Vec<_>>(),
        "day_parts": DayPart::ALL.iter().map(|p| p.name()).collect::<Vec<_>>(),
        "fields": FIELDS,
        "phrases": phrases,
    })
}

/// The default set with a clinic's file (TOML text) laid over it; the
/// error names the phrase that is wrong.
pub fn with_overrides(mut doc: Value, text: &str) -> Result<Value, String> {
    let file: toml::Table = toml::from_str(text).map_err(|e| e.message().to_string())?;
    for (lang, calls) in file {
        if !Lang::ALL.iter().any(|l| l.code() == lang) {
            return Err(format!("`{lang}`: not a language (en, ru, fr, zh)"));
        }
        let calls = calls
            .as_table()
            .ok_or_else(|| format!("`{lang}`: expected a table of call types"))?;
        for (call, stages) in calls {
            if !CallType::ALL.iter().any(|c| c.name() == call) {
                return Err(format!("`{lang}.{call}`: not a call type"));
            }
            let stages = stages
                .as_table()
                .ok_or_else(|| format!("`{lang}.{call}`: expected a table of stages"))?;
            for (stage, value) in stages {
                let path = format!("{lang}.{call}.{stage}");
                if !Stage::ALL.iter().any(|s| s.name() == stage) {
                    return Err(format!("`{path}`: not a stage"));
                }
                let slot = &mut doc["phrases"][lang.as_str()][call.as_str()][stage.as_str()];
                match value {
                    toml::Value::String(t) => {
                        check(&path, t)?;
                        if stage == "greeting" {
                            // One greeting for every part of the day.
                            for p in DayPart::ALL {
                                slot[p.name()] = t.clone().into();
                            }
                        } else {
                            *slot = t.clone().into();
                        }
                    }
                    toml::Value::Table(parts) if stage == "greeting" => {
                        for (part, t) in parts {
                            let path = format!("{path}.{part}");
                            if !DayPart::ALL.iter().any(|p| p.name() == part) {
                                return Err(format!(
                                    "`{path}`: not a part of the day (morning, day, evening, night)"
                                ));
                            }
                            let t = t
                                .as_str()
                                .ok_or_else(|| format!("`{path}`: expected text"))?;
                            check(&path, t)?;
                            slot[part.as_str()] = t.into();
                        }
                    }
                    _ => return Err(format!("`{path}`: expected text")),
                }
            }
        }
    }
    Ok(doc)
}

/// A phrase may name only data the screen has.
fn check(path: &str, text: &str) -> Result<(), String> {
    let unknown = script::fill(text, |name| FIELDS.contains(&name).then(|| "x".into())).missing;
    match unknown.first() {
        Some(name) => Err(format!(
            "`{path}` names {{{name}}}, which the screen cannot fill (known: {})",
            FIELDS.join(", ")
        )),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_set_has_every_phrase_and_a_clinics_file_overrides_some() {
        let doc = default_document("Clinic on Nevsky");
        assert_eq!(doc["clinic"], "Clinic on Nevsky");
        assert_eq!(
            doc["phrases"]["ru"]["inbound"]["greeting"]["morning"],
            "Доброе утро, {clinic}, {agent}, слушаю вас."
        );
        assert!(doc["phrases"]["zh"]["home_visit"]["purpose"].is_string());
        let ours = with_overrides(
            doc.clone(),
            "[ru.inbound]\npurpose = \"Слушаю вас, {address_as}.\"\n[en.nps_follow_up.greeting]\nevening = \"Good evening from {clinic}.\"\n",
        )
        .unwrap();
        assert_eq!(
            ours["phrases"]["ru"]["inbound"]["purpose"],
            "Слушаю вас, {address_as}."
        );
        assert_eq!(
            ours["phrases"]["en"]["nps_follow_up"]["greeting"]["evening"],
            "Good evening from {clinic}."
        );
        // The rest is untouched.
        assert_eq!(
            ours["phrases"]["en"]["nps_follow_up"]["greeting"]["morning"],
            doc["phrases"]["en"]["nps_follow_up"]["greeting"]["morning"]
        );
        assert_eq!(
            ours["phrases"]["ru"]["inbound"]["closing"],
            doc["phrases"]["ru"]["inbound"]["closing"]
        );
    }

    #[test]
    fn a_wrong_file_is_refused_naming_the_phrase() {
        let doc = default_document("x");
        let err = |text: &str| with_overrides(doc.clone(), text).unwrap_err();
        assert!(err("[de.inbound]\npurpose = \"Hallo\"").contains("`de`"));
        assert!(err("[en.walk_in]\npurpose = \"Hi\"").contains("`en.walk_in`"));
        assert!(err("[en.inbound]\nfarewell = \"Bye\"").contains("`en.inbound.farewell`"));
        let e = err("[en.inbound]\npurpose = \"Hello {patient_name}\"");
        assert!(
            e.contains("`en.inbound.purpose`") && e.contains("{patient_name}"),
            "{e}"
        );
        assert!(err("[en.inbound.greeting]\nnoon = \"Hi\"").contains("`en.inbound.greeting.noon`"));
        assert!(err("[en.inbound]\npurpose = 3").contains("expected text"));
        assert!(err("not toml at all [").len() > 5);
    }
}
