//! The pages in `web/`, built into the binary (no files to deploy beside
//! it): `/` (sign in), `/dashboard`, `/history`, `/agent`, and their
//! scripts, styles and the vendored chart library under `/static/`. Every
//! response forbids scripts and styles from anywhere but this server.

use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// One file of `web/`.
struct Asset {
    /// Its path under `web/`.
    path: &'static str,
    /// Its media type.
    mime: &'static str,
    /// Its bytes.
    body: &'static [u8],
}

macro_rules! asset {
    ($path:literal, $mime:expr) => {
        Asset {
            path: $path,
            mime: $mime,
            body: include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/../web/", $path)),
        }
    };
}

const HTML: &str = "text/html; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";

static ASSETS: &[Asset] = &[
    asset!("index.html", HTML),
    asset!("dashboard.html", HTML),
    asset!("history.html", HTML),
    asset!("agent.html", HTML),
    asset!("teleconsults.html", HTML),
    asset!("css/app.css", CSS),
    asset!("js/api.js", JS),
    asset!("js/format.js", JS),
    asset!("js/i18n.js", JS),
    asset!("js/login.js", JS),
    asset!("js/dashboard.js", JS),
    asset!("js/history.js", JS),
    asset!("js/agent.js", JS),
    asset!("js/teleconsults.js", JS),
    asset!("js/phone.js", JS),
    asset!("vendor/jssip/jssip.esm.js", JS),
    asset!("vendor/jssip/LICENSES", "text/plain; charset=utf-8"),
    asset!("vendor/uplot/uPlot.esm.js", JS),
    asset!("vendor/uplot/uPlot.min.css", CSS),
    asset!("vendor/uplot/LICENSE", "text/plain; charset=utf-8"),
];

/// Same origin only; inline styles set from scripts (the charts) are
/// allowed, inline scripts are not.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

fn serve(path: &str) -> Response {
    serve_with(path, CSP.to_string())
}

fn serve_with(path: &str, csp: String) -> Response {
    let Some(a) = ASSETS.iter().find(|a| a.path == path) else {
        return (StatusCode::NOT_FOUND, "no such file\n").into_response();
    };
    let mut resp = a.body.into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(a.mime));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if let Ok(v) = HeaderValue::from_str(&csp) {
        h.insert(header::CONTENT_SECURITY_POLICY, v);
    }
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    resp
}

/// `GET /`
pub(crate) async fn index() -> Response {
    serve("index.html")
}

/// `GET /dashboard`
pub(crate) async fn dashboard() -> Response {
    serve("dashboard.html")
}

/// `GET /history`
pub(crate) async fn history() -> Response {
    serve("history.html")
}

/// `GET /teleconsults`
pub(crate) async fn teleconsults() -> Response {
    serve("teleconsults.html")
}

/// `GET /agent`: the agent's page is also their browser phone, which
/// connects to the SIP WebSocket listener(s) as well as to this origin.
pub(crate) async fn agent(
    axum::extract::State(state): axum::extract::State<super::AppState>,
    headers: axum::http::HeaderMap,
) -> Response {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    serve_with("agent.html", agent_csp(&state.sip_listen, host))
}

/// The page's policy with the SIP WebSocket origins added to `connect-src`;
/// a listener on a wildcard address is reached at the host the page came
/// from.
fn agent_csp(listen: &[String], page_host: &str) -> String {
    let page_host = match page_host.rsplit_once(':') {
        Some((h, port)) if port.chars().all(|c| c.is_ascii_digit()) => h,
        _ => page_host,
    };
    let mut sources = String::new();
    for l in listen {
        let Some((scheme, addr)) = l.split_once("://") else {
            continue;
        };
        if scheme != "ws" && scheme != "wss" {
            continue;
        }
        let Some((host, port)) = addr.rsplit_once(':') else {
            continue;
        };
        let host = match host {
            "0.0.0.0" | "[::]" => page_host,
            h => h,
        };
        sources.push_str(&format!(" {scheme}://{host}:{port}"));
    }
    CSP.replace(
        "connect-src 'self'",
        &format!("connect-src 'self'{sources}"),
    )
}

/// `GET /static/{*path}`
pub(crate) async fn file(Path(path): Path<String>) -> Response {
    serve(&path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_file_of_web_is_served_and_every_page_names_only_served_files() {
        // Every file under web/ except the notes is in the table …
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../web");
        let mut on_disk = Vec::new();
        let mut dirs = vec![root.clone()];
        while let Some(d) = dirs.pop() {
            for e in std::fs::read_dir(&d).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    dirs.push(p);
                } else {
                    let rel = p
                        .strip_prefix(&root)
                        .unwrap()
                        .to_string_lossy()
                        .replace('\\', "/");
                    if !rel.ends_with("README.md")
                        && !rel.ends_with("README")
                        && !rel.starts_with("test/")
                    {
                        on_disk.push(rel);
                    }
                }
            }
        }
        on_disk.sort();
        let mut served: Vec<String> = ASSETS.iter().map(|a| a.path.to_string()).collect();
        served.sort();
        assert_eq!(on_disk, served);
        // … and every /static/ reference in a page or a script resolves.
        for a in ASSETS.iter().filter(|a| a.mime == HTML || a.mime == JS) {
            let text = std::str::from_utf8(a.body).unwrap();
            for (i, _) in text.match_indices("/static/") {
                let rest = &text[i + "/static/".len()..];
                let end = rest.find(['"', '\'', '`', ')']).unwrap();
                let target = &rest[..end];
                assert!(
                    ASSETS.iter().any(|x| x.path == target),
                    "{} refers to /static/{target}, which is not served",
                    a.path
                );
            }
            // Relative imports of scripts resolve too.
            for (i, _) in text.match_indices("from \"./") {
                let rest = &text[i + "from \"./".len()..];
                let target = format!("js/{}", &rest[..rest.find('"').unwrap()]);
                assert!(
                    ASSETS.iter().any(|x| x.path == target),
                    "{}: {target}",
                    a.path
                );
            }
        }
        assert!(ASSETS.iter().any(|a| a.mime == CSS));
    }

    #[tokio::test]
    async fn pages_come_with_a_strict_policy_and_unknown_files_are_404() {
        let r = dashboard().await;
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.headers()[header::CONTENT_TYPE], HTML);
        assert!(
            r.headers()[header::CONTENT_SECURITY_POLICY]
                .to_str()
                .unwrap()
                .contains("script-src 'self'")
        );
        let r = file(Path("js/../../Cargo.toml".into())).await;
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
    }

    #[test]
    fn the_agent_page_may_connect_to_the_sip_websocket_and_nothing_else() {
        let listen = vec![
            "udp://0.0.0.0:5060".to_string(),
            "ws://0.0.0.0:8088".to_string(),
            "ws://10.0.0.5:8089".to_string(),
        ];
        let csp = agent_csp(&listen, "clinic.example:8080");
        assert!(
            csp.contains("connect-src 'self' ws://clinic.example:8088 ws://10.0.0.5:8089;"),
            "{csp}"
        );
        assert!(!csp.contains("udp"), "{csp}");
        // Without a SIP WebSocket the policy is the other pages' one.
        assert_eq!(agent_csp(&listen[..1], "x"), CSP);
    }
}
