//! The eframe glue: a native window (glow, X11) around [`AgentApp`], with
//! the engine on a tokio runtime of its own. Each frame drains the
//! engine's notices into the app, draws it, and passes its commands on.

use std::time::{Duration, Instant};

use anyhow::{Result, anyhow};
use careline_shared::script::Lang;
use eframe::egui;

use super::{AgentApp, LoginForm};
use crate::api::ServerUrl;
use crate::engine::{self, Handle};

/// The window's state.
struct Window {
    app: AgentApp,
    runtime: tokio::runtime::Runtime,
    engine: Option<Handle>,
    /// The ringtone, while the phone rings.
    ringer: Option<crate::audio::Ringer>,
}

impl eframe::App for Window {
    fn on_exit(&mut self, _gl: Option<&eframe::glow::Context>) {
        self.leave();
    }

    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        let now = Instant::now();
        if self.app.take_login() {
            self.start_engine();
        }
        if let Some(engine) = &mut self.engine {
            while let Ok(n) = engine.notices.try_recv() {
                self.app.notice(n, now);
            }
        }
        if let Some(levels) = self.engine.as_ref().and_then(|e| e.levels.lock().ok()) {
            self.app.levels = *levels;
        }
        let devices = (
            self.app.input_device.clone(),
            self.app.output_device.clone(),
        );
        self.app.ui(ui, now);
        if let Some(engine) = &self.engine {
            for c in self.app.take_commands() {
                let _ = engine.commands.send(c);
            }
            // Devices chosen on the screen take effect from the next call.
            if devices
                != (
                    self.app.input_device.clone(),
                    self.app.output_device.clone(),
                )
            {
                let _ =
                    engine
                        .commands
                        .send(engine::Command::Audio(engine::AudioChoice::Headset {
                            input: self.app.input_device.clone(),
                            output: self.app.output_device.clone(),
                        }));
            }
        }
        match (self.app.ringing(), self.ringer.is_some()) {
            (true, false) => match crate::audio::Ringer::start(self.app.ring_device.as_deref()) {
                Ok(r) => self.ringer = Some(r),
                // No sound card: the screen still shows the ring.
                Err(e) => tracing::warn!("ringtone: {e:#}"),
            },
            (false, true) => self.ringer = None,
            _ => {}
        }
        // Notices arrive between frames; timers (hold, wrap-up) tick.
        ui.ctx().request_repaint_after(Duration::from_millis(100));
    }
}

impl Window {
    /// The window closes: calls hung up and the registration removed, so
    /// the server stops ringing this desk (at most a few seconds).
    fn leave(&mut self) {
        let Some(mut engine) = self.engine.take() else {
            return;
        };
        let _ = engine.commands.send(engine::Command::Quit);
        let _ = self
            .runtime
            .block_on(tokio::time::timeout(Duration::from_secs(5), async {
                while let Some(n) = engine.notices.recv().await {
                    if n == engine::Notice::Stopped {
                        return;
                    }
                }
            }));
    }

    fn start_engine(&mut self) {
        let login = &self.app.login;
        let server = match ServerUrl::parse(login.server.trim()) {
            Ok(s) => s,
            Err(e) => {
                self.app
                    .notice(engine::Notice::Failed(format!("{e:#}")), Instant::now());
                return;
            }
        };
        let settings = engine::Settings {
            server,
            extension: login.extension.trim().to_string(),
            password: login.password.clone(),
            bind: None,
            audio: engine::AudioChoice::Headset {
                input: self.app.input_device.clone(),
                output: self.app.output_device.clone(),
            },
        };
        let _guard = self.runtime.enter();
        self.engine = Some(engine::spawn(settings));
    }
}

/// How the window starts.
#[derive(Debug, Clone, Default)]
pub struct Start {
    /// The server's URL for the login form.
    pub server: String,
    /// The extension for the login form.
    pub extension: String,
    /// A password given on standard input: log in at once.
    pub password: Option<String>,
    /// The screen's language (default: the system's).
    pub lang: Option<Lang>,
    /// Auto-answer on from the start.
    pub auto_answer: bool,
    /// The headset's devices and the ringtone's, by id.
    pub input_device: Option<String>,
    /// See `input_device`.
    pub output_device: Option<String>,
    /// See `input_device`.
    pub ring_device: Option<String>,
}

/// Opens the window and runs until it is closed.
pub fn run(start: Start) -> Result<()> {
    let Start {
        server,
        extension,
        password,
        lang,
        auto_answer,
        input_device,
        output_device,
        ring_device,
    } = start;
    let lang = lang.unwrap_or_else(system_lang);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let mut app = AgentApp::new(
        lang,
        LoginForm {
            server,
            extension,
            password: password.clone().unwrap_or_default(),
        },
    );
    app.auto_answer = auto_answer;
    (app.input_device, app.output_device, app.ring_device) =
        (input_device, output_device, ring_device);
    app.devices = crate::audio::devices();
    if password.is_some() {
        app.log_in_now();
    }
    let options = eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default()
            .with_title("Careline")
            .with_inner_size([1100.0, 720.0]),
        ..Default::default()
    };
    eframe::run_native(
        "Careline",
        options,
        Box::new(move |cc| {
            setup_fonts(&cc.egui_ctx);
            Ok(Box::new(Window {
                app,
                runtime,
                engine: None,
                ringer: None,
            }))
        }),
    )
    .map_err(|e| anyhow!("the window cannot open: {e}"))
}

/// The screen's language from the system locale (`LC_ALL`, `LC_MESSAGES`,
/// `LANG`), English when none says otherwise.
pub fn system_lang() -> Lang {
    ["LC_ALL", "LC_MESSAGES", "LANG"]
        .iter()
        .filter_map(|k| std::env::var(k).ok())
        .find(|v| !v.is_empty())
        .map_or(Lang::En, |v| Lang::from_locale(&v))
}

/// egui's own fonts have no Chinese: use a system font that has, when one
/// is installed (Debian: fonts-wqy-microhei or fonts-noto-cjk). A glyph no
/// font has (a name in a script we lack) is drawn as a box, never a crash.
pub fn setup_fonts(ctx: &egui::Context) {
    ctx.set_missing_glyph_policy(egui::epaint::text::MissingGlyphPolicy::Tofu);
    const CANDIDATES: [&str; 3] = [
        "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
        "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
        "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf",
    ];
    let Some(bytes) = CANDIDATES.iter().find_map(|p| std::fs::read(p).ok()) else {
        tracing::info!("no CJK font installed: Chinese text will not render");
        return;
    };
    let mut fonts = egui::FontDefinitions::default();
    fonts.font_data.insert(
        "cjk".into(),
        std::sync::Arc::new(egui::FontData::from_owned(bytes)),
    );
    for family in [egui::FontFamily::Proportional, egui::FontFamily::Monospace] {
        fonts.families.entry(family).or_default().push("cjk".into());
    }
    ctx.set_fonts(fonts);
}
