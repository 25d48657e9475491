//! A real Chromium (Debian's, headless) driven over CDP by chromiumoxide: fake camera and
//! microphone, nothing but loopback traffic, a fresh profile per browser.
#![allow(dead_code)]

#[path = "wav.rs"]
mod wav;

use std::path::PathBuf;
use std::time::Duration;

use chromiumoxide::browser::{Browser, BrowserConfig};
use chromiumoxide::cdp::js_protocol::runtime::EvaluateParams;
use chromiumoxide::page::{Page, ScreenshotParams};
use futures_util::StreamExt;
use serde::de::DeserializeOwned;
use serde_json::Value;
use tokio::task::JoinHandle;

/// Generous: a loaded 2-core machine may take seconds to start a browser or decode a frame.
pub const BROWSER_WAIT: Duration = Duration::from_secs(60);

pub struct Chromium {
    browser: Browser,
    handler: JoinHandle<()>,
    profile: PathBuf,
}

/// What the browser's fake microphone plays: a steady tone peercall can find (Chromium's own fake
/// microphone beeps, which has no one frequency).
pub const FAKE_MIC_HZ: f64 = 880.0;

/// A 48 kHz mono 16-bit WAV of [`FAKE_MIC_HZ`] (Chromium loops it).
fn write_tone_wav(path: &std::path::Path) {
    let rate = wav::RATE;
    let samples: Vec<i16> = (0..rate * 4)
        .map(|i| {
            let t = i as f64 / rate as f64;
            (0.3 * (std::f64::consts::TAU * FAKE_MIC_HZ * t).sin() * i16::MAX as f64) as i16
        })
        .collect();
    wav::write(path, &samples);
}

pub fn executable() -> PathBuf {
    std::env::var_os("PEERCALL_CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"))
}

/// How to start the browser; the default suits pages on loopback.
#[derive(Debug, Default, Clone, Copy)]
pub struct Options<'a> {
    /// Open our self-signed https.
    pub ignore_cert_errors: bool,
    /// Offer `.local` names instead of the host's addresses, as browsers do for a page without
    /// camera or microphone permission (off by default: there is no multicast on loopback).
    pub hide_ips_with_mdns: bool,
    /// Also reach `http://HOST:PORT` (by default nothing but loopback) and treat it as secure:
    /// camera and microphone are for secure pages only.
    pub origin: Option<&'a str>,
    /// No fake camera and microphone, and no permission granted by itself.
    pub without_media: bool,
}

impl Chromium {
    /// Starts a headless Chromium. `ignore_cert_errors` lets it open our self-signed https.
    pub async fn launch(ignore_cert_errors: bool) -> Chromium {
        Self::launch_with(Options {
            ignore_cert_errors,
            ..Options::default()
        })
        .await
    }

    pub async fn launch_with(options: Options<'_>) -> Chromium {
        let Options {
            ignore_cert_errors,
            hide_ips_with_mdns,
            origin,
            without_media,
        } = options;
        let profile = std::env::temp_dir().join(format!(
            "peercall-chromium-{}-{:016x}",
            std::process::id(),
            rand::random::<u64>()
        ));
        std::fs::create_dir_all(&profile).expect("profile dir");
        let mut resolver_rules =
            "MAP * ~NOTFOUND , EXCLUDE 127.0.0.1 , EXCLUDE localhost".to_string();
        let host = origin.map(|o| {
            let without_scheme = o.split("://").nth(1).unwrap_or(o);
            without_scheme
                .split(':')
                .next()
                .unwrap_or(without_scheme)
                .to_string()
        });
        if let Some(host) = &host {
            resolver_rules.push_str(&format!(" , EXCLUDE {host}"));
        }
        // Our own argument list (no chromiumoxide defaults): each key once, since Chromium reads
        // only the last --disable-features.
        let mut builder = BrowserConfig::builder()
            .chrome_executable(executable())
            .disable_default_args()
            .no_sandbox()
            .new_headless_mode()
            .user_data_dir(&profile)
            .window_size(1100, 760)
            // The page fills the window (the default is an 800×600 emulated viewport).
            .viewport(None)
            .launch_timeout(BROWSER_WAIT)
            .request_timeout(BROWSER_WAIT)
            .args([
                "disable-gpu",
                "disable-quic",
                "no-first-run",
                "no-default-browser-check",
                "disable-background-networking",
                "disable-component-update",
                "disable-sync",
                "disable-extensions",
                "disable-dev-shm-usage",
                "disable-background-timer-throttling",
                "disable-renderer-backgrounding",
                "disable-backgrounding-occluded-windows",
                "allow-loopback-in-peer-connection",
            ])
            .arg(("autoplay-policy", "no-user-gesture-required"))
            // Nothing resolves but loopback (and what the test asks for): no DNS leaves the
            // machine.
            .arg(("host-resolver-rules", resolver_rules.as_str()));
        if !without_media {
            let tone = profile.join("tone.wav");
            write_tone_wav(&tone);
            builder = builder
                .args([
                    "use-fake-device-for-media-stream",
                    "use-fake-ui-for-media-stream",
                ])
                .arg((
                    "use-file-for-fake-audio-capture",
                    tone.to_str().expect("a UTF-8 temp path"),
                ));
        }
        if let Some(origin) = origin {
            builder = builder.arg(("unsafely-treat-insecure-origin-as-secure", origin));
        }
        if hide_ips_with_mdns {
            builder = builder.arg(("enable-features", "WebRtcHideLocalIpsWithMdns"));
        } else {
            // Raw host candidates instead of mDNS names (no multicast DNS traffic).
            builder = builder.arg(("disable-features", "WebRtcHideLocalIpsWithMdns"));
        }
        if ignore_cert_errors {
            builder = builder.arg("ignore-certificate-errors");
        } else {
            builder = builder.respect_https_errors();
        }
        let config = builder.build().expect("browser config");
        let (browser, mut events) = Browser::launch(config)
            .await
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", executable().display()));
        // The handler must run before any call; its errors are unknown CDP events, not fatal.
        let handler = tokio::spawn(async move { while events.next().await.is_some() {} });
        Chromium {
            browser,
            handler,
            profile,
        }
    }

    /// Opens `url` in a new tab and waits until the page registered on the server.
    pub async fn open(&self, url: &str) -> Tab {
        let page = self.browser.new_page(url).await.expect("open page");
        let tab = Tab { page };
        tab.wait_for("window.peercall && window.peercall.state === 'idle'")
            .await;
        tab
    }

    /// Opens any page (not peercall's) in a new tab, without waiting for anything in it.
    pub async fn open_page(&self, url: &str) -> Tab {
        let page = self.browser.new_page(url).await.expect("open page");
        Tab { page }
    }

    /// Like [`Chromium::open`], running `script` before the page's own (e.g. to take a device
    /// away).
    pub async fn open_with(&self, url: &str, script: &str) -> Tab {
        let page = self.browser.new_page("about:blank").await.expect("new tab");
        page.evaluate_on_new_document(script)
            .await
            .expect("install script");
        page.goto(url).await.expect("open page");
        let tab = Tab { page };
        tab.wait_for("window.peercall && window.peercall.state === 'idle'")
            .await;
        tab
    }

    pub async fn close(mut self) {
        let _ = self.browser.close().await;
        let _ = tokio::time::timeout(Duration::from_secs(10), self.browser.wait()).await;
        self.handler.abort();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

pub struct Tab {
    pub page: Page,
}

impl Tab {
    /// Evaluates a JS expression (promises awaited) and returns its JSON value.
    pub async fn eval<T: DeserializeOwned>(&self, expression: &str) -> T {
        self.try_eval(expression)
            .await
            .unwrap_or_else(|e| panic!("evaluating {expression}: {e}"))
    }

    pub async fn try_eval<T: DeserializeOwned>(&self, expression: &str) -> Result<T, String> {
        let function = format!("async () => {{ return ({expression}); }}");
        let result = self
            .page
            .evaluate_function(function)
            .await
            .map_err(|e| e.to_string())?;
        // `undefined` and `null` come back without a value.
        let value = result.value().cloned().unwrap_or(Value::Null);
        serde_json::from_value(value).map_err(|e| e.to_string())
    }

    /// Evaluates a JS expression as if the user had just clicked (what `getDisplayMedia` asks
    /// for), promises awaited.
    pub async fn eval_as_user<T: DeserializeOwned>(&self, expression: &str) -> T {
        let params = EvaluateParams::builder()
            .expression(expression)
            .user_gesture(true)
            .await_promise(true)
            .return_by_value(true)
            .build()
            .expect("evaluate params");
        let result = self
            .page
            .evaluate_expression(params)
            .await
            .unwrap_or_else(|e| panic!("evaluating {expression}: {e}"));
        let value = result.value().cloned().unwrap_or(Value::Null);
        serde_json::from_value(value).unwrap_or_else(|e| panic!("{expression}: {e}"))
    }

    /// Polls until the JS expression is truthy; panics with the page state after BROWSER_WAIT.
    pub async fn wait_for(&self, expression: &str) -> Value {
        self.wait_for_within(expression, BROWSER_WAIT).await
    }

    pub async fn wait_for_within(&self, expression: &str, within: Duration) -> Value {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            // Errors count as "not yet": the page may still be loading.
            let value: Value = self
                .try_eval(&format!("({expression}) || null"))
                .await
                .unwrap_or(Value::Null);
            if !value.is_null() && value != Value::Bool(false) {
                return value;
            }
            if tokio::time::Instant::now() >= deadline {
                let state: Value = self
                    .try_eval("window.peercall || null")
                    .await
                    .unwrap_or(Value::Null);
                panic!("timed out waiting for `{expression}`; page state: {state}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// `window.peercall` (the page's state) as JSON.
    pub async fn state(&self) -> Value {
        self.eval("window.peercall").await
    }

    /// Inbound media per kind, from getStats.
    pub async fn stats(&self) -> Value {
        self.eval("window.peercall.stats()").await
    }

    pub async fn screenshot(&self, path: &std::path::Path) {
        let png = self
            .page
            .screenshot(ScreenshotParams::builder().build())
            .await
            .expect("screenshot");
        std::fs::write(path, png).expect("write screenshot");
    }
}
