//! For tests: everything the server logs, at every level, so a test can
//! show that no patient data reaches the logs. The capture is the process's
//! global subscriber (set once; nextest runs each test in a process of its
//! own, and the tasks a test spawns log from any thread).

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

use tracing_subscriber::fmt::MakeWriter;

type Buffer = Arc<Mutex<Vec<u8>>>;

static BUFFER: OnceLock<Buffer> = OnceLock::new();

/// What was logged since [`Captured::start`].
pub(crate) struct Captured {
    buffer: Buffer,
    from: usize,
}

/// One writer onto the capture.
pub(crate) struct Sink(Buffer);

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .map_err(|_| std::io::Error::other("capture poisoned"))?
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Makes writers onto the buffer.
struct Writers(Buffer);

impl<'a> MakeWriter<'a> for Writers {
    type Writer = Sink;

    fn make_writer(&'a self) -> Sink {
        Sink(Arc::clone(&self.0))
    }
}

impl Captured {
    /// Captures from now on, at every level.
    pub(crate) fn start() -> Captured {
        let buffer = BUFFER.get_or_init(|| {
            let buffer = Buffer::default();
            let subscriber = tracing_subscriber::fmt()
                .with_max_level(tracing::Level::TRACE)
                .with_ansi(false)
                .with_writer(Writers(Arc::clone(&buffer)))
                .finish();
            let _ = tracing::subscriber::set_global_default(subscriber);
            buffer
        });
        let from = buffer.lock().map_or(0, |b| b.len());
        Captured {
            buffer: Arc::clone(buffer),
            from,
        }
    }

    /// Everything logged since the start.
    pub(crate) fn text(&self) -> String {
        let all = self.buffer.lock().map(|b| b.clone()).unwrap_or_default();
        String::from_utf8_lossy(all.get(self.from..).unwrap_or_default()).into_owned()
    }

    /// Fails the test when any of `secrets` was logged; also when nothing
    /// was (then the capture itself is not working).
    pub(crate) fn assert_free_of(&self, secrets: &[&str]) {
        let text = self.text();
        assert!(
            text.lines().count() >= 3,
            "hardly anything was logged; is the capture working?\n{text}"
        );
        for s in secrets {
            assert!(!text.contains(s), "{s:?} reached the logs:\n{text}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Captured;

    #[test]
    #[should_panic(expected = "reached the logs")]
    fn a_logged_secret_fails_the_check() {
        let logs = Captured::start();
        for n in 0..3 {
            tracing::info!(n, "something happened");
        }
        tracing::debug!(number = "+79990000000", "a careless line");
        logs.assert_free_of(&["79990000000"]);
    }
}
