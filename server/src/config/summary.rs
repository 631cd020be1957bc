//! The running configuration as `GET /api/config` shows it: what the server
//! does with calls, without the secrets (the operator token, trunks'
//! passwords), and with the fingerprint the audit trail's `config_changed`
//! events carry.

use serde_json::{Value, json};

use super::{Config, Dur, Durability};

fn ms(d: Dur) -> u64 {
    d.0.as_millis() as u64
}

impl Config {
    /// The summary; never a secret, only whether one is set.
    pub fn summary(&self) -> Value {
        let queues: Vec<Value> = self
            .queues
            .iter()
            .map(|q| {
                json!({
                    "name": q.name,
                    "number": q.number,
                    "agents": q.agents,
                    "seniors": q.seniors,
                    "ring_cycle_ms": ms(q.ring_cycle),
                    "rings_to_answer": q.rings_to_answer,
                    "answer_deadline_ms": ms(q.ring_cycle) * u64::from(q.rings_to_answer),
                    "agent_ring_time_ms": q.agent_ring_time.map(ms),
                    "wrap_up_ms": ms(q.wrap_up),
                    "auto_pause_after": q.auto_pause_after,
                    "max_wait_ms": ms(q.max_wait),
                })
            })
            .collect();
        let trunks: Vec<Value> = self
            .trunks
            .iter()
            .map(|t| {
                json!({
                    "name": t.name,
                    "address": t.address.to_string(),
                    "transport": t.transport,
                    "username": t.username,
                    "password_set": t.password.is_some(),
                    "domain": t.domain,
                    "register": t.register,
                    "register_expires_ms": ms(t.register_expires),
                    "dids": t.dids,
                    "accept_from": t.accept_from.iter().map(ToString::to_string).collect::<Vec<_>>(),
                    "registers_as": t.registers_as,
                })
            })
            .collect();
        let r = &self.registrar;
        json!({
            "fingerprint": self.fingerprint,
            "sip": {
                "listen": self.sip.listen.iter().map(ToString::to_string).collect::<Vec<_>>(),
                "domain": self.sip.domain,
                "tls": self.sip.tls_cert.is_some(),
            },
            "registrar": {
                "min_expires_ms": ms(r.min_expires),
                "max_expires_ms": ms(r.max_expires),
                "default_expires_ms": ms(r.default_expires),
                "max_contacts": r.max_contacts,
                "lockout_after": r.lockout_after,
                "lockout_time_ms": ms(r.lockout_time),
            },
            "users": { "min_password_length": self.users.min_password_length },
            "http": {
                "listen": self.http.listen.to_string(),
                "api_token_set": self.http.api_token.is_some(),
            },
            "database": {
                "durability": match self.database.durability {
                    Durability::Full => "full",
                    Durability::Normal => "normal",
                },
            },
            "media": {
                "ports": [self.media.port_min, self.media.port_max],
                "workers": self.media.workers,
                "rtp_timeout_ms": ms(self.media.rtp_timeout),
            },
            "patients": { "default_region": self.patients.default_region },
            "teleconsult": { "missing_flags": self.teleconsult.missing_flags },
            "queues": queues,
            "trunks": trunks,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_shows_what_calls_do_and_no_secret() {
        let mut config: Config = toml::from_str(
            r#"
            [http]
            api_token = "operator-secret-0123456789"

            [[queues]]
            name = "reception"
            number = "100"
            agents = ["1001", "1002"]
            seniors = ["2001"]

            [[trunks]]
            name = "provider"
            address = "192.0.2.10:5060"
            username = "clinic"
            password = "trunk-secret"
            register = true
            dids = { "78121234567" = "reception" }
            "#,
        )
        .unwrap();
        config.fingerprint = "f".repeat(64);
        let summary = config.summary();
        let text = summary.to_string();
        for secret in ["operator-secret", "trunk-secret"] {
            assert!(!text.contains(secret), "{secret} shown: {text}");
        }
        assert_eq!(summary["http"]["api_token_set"], true);
        assert_eq!(summary["trunks"][0]["password_set"], true);
        assert_eq!(summary["trunks"][0]["dids"]["78121234567"], "reception");
        let q = &summary["queues"][0];
        assert_eq!(q["agents"], json!(["1001", "1002"]));
        // The defaults: three rings of five seconds.
        assert_eq!(
            (
                &q["ring_cycle_ms"],
                &q["rings_to_answer"],
                &q["answer_deadline_ms"]
            ),
            (&json!(5000), &json!(3), &json!(15000))
        );
        assert_eq!(summary["fingerprint"], "f".repeat(64));
    }
}
