//! The window's async side, on its own tokio runtime: finds or starts the signaling server,
//! registers and starts the call engine. The engine's events go straight to the UI thread (and
//! wake it), the window's commands straight to the engine, the presence list straight from the
//! transport: this task only opens sessions and decides when to open the next. The UI never
//! waits on any of it.

use std::sync::mpsc as std_mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use signaling_client::{
    IceServer, ManualSignaling, Opened, PresenceWatch, SignalingError, SignalingKind,
};
use tokio::sync::{mpsc, watch};

use super::settings::Settings;
use super::state::{BackendEvent, UiEvent};
use crate::call::media_setup::{MediaSetup, RgbaFrame};
use crate::call::participant::Participant;
use crate::call::peer::NetworkSettings;
use crate::call::{CallCommand, CallEngine, CallEvent, CallEvents, EngineConfig};
use crate::media::frame_slot::FrameSlot;
use crate::media::voice::Voice;
use crate::server::{RunningServer, Server, ServerConfig};

/// Where peercall looks for a server when none is configured, and where it starts its own.
pub const LOCAL_SERVER: &str = "ws://127.0.0.1:8480/ws";
pub const EMBEDDED_PORT: u16 = 8480;
/// The embedded server's https port: browsers give the camera and microphone only to secure
/// pages, so the LAN reaches it here.
pub const EMBEDDED_TLS_PORT: u16 = 8481;

/// Events waiting for the UI thread, at most: they come at a human rate; a UI that stopped
/// drawing loses the newest, not its memory.
pub const UI_EVENT_QUEUE: usize = 1024;

pub enum BackendCommand {
    /// Try the server again now.
    Retry,
    /// New settings: media switch at once; a new server or ID reconnects.
    Apply(Box<Settings>),
    /// A line pasted for copy-paste signaling (the other side's offer or answer).
    Paste(String),
}

/// The UI thread's handle.
pub struct Backend {
    commands: mpsc::UnboundedSender<BackendCommand>,
    pub local_frames: Arc<FrameSlot<RgbaFrame>>,
    /// How the microphone is cleaned, and what that measured (the stats view reads it).
    pub voice: Arc<Voice>,
    /// The engine of the current session (none between sessions).
    engine: Arc<Mutex<Option<CallEngine>>>,
    /// The current session's list of who is online, where its dialect has one.
    presence: Arc<Mutex<PresenceSlot>>,
}

/// The window has no engine to tell: it is not connected to a signaling server (yet).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotConnected;

impl std::fmt::Display for NotConnected {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("not connected to a signaling server yet")
    }
}

impl Backend {
    pub fn send(&self, command: BackendCommand) {
        let _ = self.commands.send(command);
    }

    fn engine(&self) -> Option<CallEngine> {
        self.engine
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Tells the call engine (it owns the call's state; what it decides comes back as events).
    pub fn call(&self, command: CallCommand) -> Result<(), NotConnected> {
        self.engine().ok_or(NotConnected)?.send(command);
        Ok(())
    }

    /// Everyone else in the call now (their frames, their figures), in the order they came.
    pub fn participants(&self) -> Vec<Arc<Participant>> {
        self.engine()
            .map(|e| e.participants())
            .unwrap_or_default()
            .into_iter()
            .filter(|p| p.left().is_none())
            .collect()
    }

    /// Who else is online, when that changed since last asked.
    pub fn presence_changed(&self) -> Option<Vec<String>> {
        self.presence
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .changed()
    }
}

/// A session's presence list as the UI thread reads it.
#[derive(Default)]
struct PresenceSlot {
    watch: Option<PresenceWatch>,
    /// Not read since the session (or its absence) began.
    fresh: bool,
}

impl PresenceSlot {
    fn set(&mut self, watch: Option<PresenceWatch>) {
        self.watch = watch;
        self.fresh = true;
    }

    fn changed(&mut self) -> Option<Vec<String>> {
        let fresh = std::mem::take(&mut self.fresh);
        match self.watch.as_mut() {
            Some(w) if fresh || w.has_changed().unwrap_or(false) => {
                Some(w.borrow_and_update().clone())
            }
            Some(_) => None,
            None => fresh.then(Vec::new),
        }
    }
}

/// Tells the UI thread, and wakes it.
#[derive(Clone)]
pub struct UiLink {
    events: std_mpsc::SyncSender<UiEvent>,
    pub(crate) repaint: Arc<dyn Fn() + Send + Sync>,
}

impl UiLink {
    /// A link and the UI thread's end of it; `repaint` wakes the UI thread.
    pub fn channel(repaint: Arc<dyn Fn() + Send + Sync>) -> (UiLink, std_mpsc::Receiver<UiEvent>) {
        let (events, rx) = std_mpsc::sync_channel(UI_EVENT_QUEUE);
        (UiLink { events, repaint }, rx)
    }

    fn send(&self, event: UiEvent) {
        if let Err(std_mpsc::TrySendError::Full(event)) = self.events.try_send(event) {
            tracing::warn!(
                ?event,
                "the window's event queue is full: an event is dropped"
            );
        }
        (self.repaint)();
    }

    fn backend(&self, event: BackendEvent) {
        self.send(UiEvent::Backend(event));
    }
}

/// What the session task needs to know of the call, learnt from the engine's events as they
/// pass to the UI.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct CallStatus {
    in_call: bool,
    signaling_lost: bool,
}

impl CallStatus {
    /// Takes `event` in; true when that changed anything.
    fn observe(&mut self, event: &CallEvent) -> bool {
        let before = *self;
        match event {
            CallEvent::Calling { .. }
            | CallEvent::Incoming { .. }
            | CallEvent::RoomJoined { .. } => self.in_call = true,
            CallEvent::Ended { .. } => self.in_call = false,
            CallEvent::SignalingLost { .. } => self.signaling_lost = true,
            _ => {}
        }
        *self != before
    }
}

/// Starts the backend; `start` is a first command for the engine once it is connected (dial
/// someone, join a room).
pub fn start(
    runtime: &tokio::runtime::Handle,
    settings: Settings,
    start: Option<CallCommand>,
    ui: UiLink,
) -> Backend {
    let (commands, command_rx) = mpsc::unbounded_channel();
    let local_frames = Arc::new(FrameSlot::with_waker(ui.repaint.clone()));
    let voice = Voice::new(settings.voice_stages());
    let engine = Arc::new(Mutex::new(None));
    let presence = Arc::new(Mutex::new(PresenceSlot::default()));
    let task = Task {
        settings,
        start,
        ui,
        local_frames: local_frames.clone(),
        voice: voice.clone(),
        engine: engine.clone(),
        presence: presence.clone(),
        embedded: None,
        embedded_fingerprint: None,
    };
    runtime.spawn(task.run(command_rx));
    Backend {
        commands,
        local_frames,
        voice,
        engine,
        presence,
    }
}

struct Task {
    settings: Settings,
    start: Option<CallCommand>,
    ui: UiLink,
    local_frames: Arc<FrameSlot<RgbaFrame>>,
    voice: Arc<Voice>,
    engine: Arc<Mutex<Option<CallEngine>>>,
    presence: Arc<Mutex<PresenceSlot>>,
    /// The server we run ourselves, when nobody else did.
    embedded: Option<RunningServer>,
    /// Its certificate's SHA-256, when it listens with TLS too.
    embedded_fingerprint: Option<String>,
}

/// Why a session with a server ended.
enum Next {
    Reconnect,
    Quit,
}

impl Task {
    async fn run(mut self, mut commands: mpsc::UnboundedReceiver<BackendCommand>) {
        loop {
            let next = match self.connect().await {
                Ok((signaling, server)) => {
                    let next = self.session(signaling, server, &mut commands).await;
                    // The session's engine goes with it (hanging up any call of its own).
                    *self.engine.lock().unwrap_or_else(|p| p.into_inner()) = None;
                    self.set_presence(None);
                    next
                }
                Err((server, reason)) => {
                    self.ui
                        .backend(BackendEvent::Unreachable { server, reason });
                    self.wait_for_retry(&mut commands).await
                }
            };
            if let Next::Quit = next {
                return;
            }
        }
    }

    /// Waits for the user to retry or change settings (retrying by itself every 10 s).
    async fn wait_for_retry(
        &mut self,
        commands: &mut mpsc::UnboundedReceiver<BackendCommand>,
    ) -> Next {
        loop {
            let command = tokio::select! {
                c = commands.recv() => c,
                _ = tokio::time::sleep(Duration::from_secs(10)) => return Next::Reconnect,
            };
            match command {
                None => return Next::Quit,
                Some(BackendCommand::Retry) => return Next::Reconnect,
                Some(BackendCommand::Apply(settings)) => {
                    self.settings = *settings;
                    return Next::Reconnect;
                }
                Some(BackendCommand::Paste(_)) => self
                    .ui
                    .backend(BackendEvent::Notice(NotConnected.to_string())),
            }
        }
    }

    /// The configured server; or, for peercall's own kind with none configured, the local one;
    /// or, when nothing answers there, our own.
    async fn connect(&mut self) -> Result<(Opened, String), (String, String)> {
        let endpoint = self
            .settings
            .endpoint(LOCAL_SERVER)
            .map_err(|e| (self.settings.server.clone(), e))?;
        let server = match endpoint.kind {
            SignalingKind::Manual => "no server".to_string(),
            _ => endpoint.server.clone(),
        };
        self.ui.backend(BackendEvent::Connecting {
            server: server.clone(),
        });
        let may_embed = endpoint.kind == SignalingKind::Peercall
            && self.settings.server.trim().is_empty()
            && self.embedded.is_none();
        match endpoint.open().await {
            Ok(opened) => Ok((opened, server)),
            Err(SignalingError::Unreachable { .. }) if may_embed => {
                self.start_embedded()
                    .await
                    .map_err(|reason| (server.clone(), reason))?;
                endpoint
                    .open()
                    .await
                    .map(|s| (s, server.clone()))
                    .map_err(|e| (server, e.to_string()))
            }
            Err(e) => Err((server, e.to_string())),
        }
    }

    async fn start_embedded(&mut self) -> Result<(), String> {
        let config = ServerConfig {
            bind: ([0, 0, 0, 0], EMBEDDED_PORT).into(),
            ice_servers: self.ice_servers(),
            ..ServerConfig::default()
        };
        let server = Server::bind(config)
            .await
            .map_err(|e| format!("cannot start a signaling server on port {EMBEDDED_PORT}: {e}"))?;
        tracing::info!(addr = %server.local_addr(), "started the embedded signaling server");
        let (server, fingerprint) = with_tls(server).await;
        self.embedded_fingerprint = fingerprint;
        self.embedded = Some(server.spawn());
        Ok(())
    }

    fn ice_servers(&self) -> Vec<IceServer> {
        self.settings
            .ice_servers
            .iter()
            .filter(|u| !u.trim().is_empty())
            .map(|u| IceServer::from_url(u.trim()))
            .collect()
    }

    fn media_setup(&self) -> MediaSetup {
        let s = &self.settings;
        let mut setup = MediaSetup::new(
            s.video()
                .unwrap_or(crate::call::media_setup::VideoChoice::None),
            s.audio()
                .unwrap_or(crate::call::media_setup::AudioChoice::None),
            s.speaker_choice()
                .unwrap_or(crate::call::media_setup::SpeakerChoice::None),
        );
        setup.quality = s.quality().unwrap_or_default();
        // Stages switch live: the microphone's processing reads them at every block.
        self.voice.stages.set(s.voice_stages());
        setup.voice = self.voice.clone();
        // Each frame that arrives asks the window to draw it.
        setup.frames_waker = Some(self.ui.repaint.clone());
        setup.local_frames = Some(self.local_frames.clone());
        setup
    }

    /// Registered on a server: run the engine until the settings call for another server.
    async fn session(
        &mut self,
        opened: Opened,
        server: String,
        commands: &mut mpsc::UnboundedReceiver<BackendCommand>,
    ) -> Next {
        let kind = self
            .settings
            .signaling_kind()
            .unwrap_or(SignalingKind::Peercall);
        let signaling = opened.signaling();
        let manual = match opened {
            Opened::Manual(manual) => Some(manual),
            Opened::Server(_) => None,
        };
        let _lines = manual.as_ref().map(|m| self.show_lines(m));
        let presence = signaling.presence();
        let Some(events) = signaling.take_events() else {
            return Next::Quit;
        };
        let id = Some(self.settings.id.trim().to_string()).filter(|id| !id.is_empty());
        let registration = match signaling.register(id).await {
            Ok(r) => r,
            Err(e) => {
                self.ui.backend(BackendEvent::Unreachable {
                    server,
                    reason: e.to_string(),
                });
                return self.wait_for_retry(commands).await;
            }
        };
        // A server on this machine is what browsers on the LAN can reach too.
        let tls_port = self
            .embedded
            .as_ref()
            .and_then(|e| e.tls_addr)
            .map(|a| a.port());
        let lan_urls = match (server_port(&server), tls_port) {
            (_, Some(port)) if kind == SignalingKind::Peercall => lan_urls("https", port),
            (Some(port), None)
                if kind == SignalingKind::Peercall
                    && (self.embedded.is_some() || is_local(&server)) =>
            {
                lan_urls("http", port)
            }
            _ => Vec::new(),
        };
        let lan_fingerprint = tls_port.and(self.embedded_fingerprint.clone());
        self.ui.backend(BackendEvent::Connected {
            server: server.clone(),
            kind,
            embedded: self.embedded.is_some(),
            lan_urls,
            lan_fingerprint,
        });
        self.ui
            .send(UiEvent::Call(crate::call::CallEvent::Registered {
                id: registration.id.clone(),
            }));
        let mut network = NetworkSettings {
            ice_servers: self.ice_servers(),
            relay_only: self.settings.relay_only,
            ..NetworkSettings::default()
        };
        let mut server_ice = false;
        if network.ice_servers.is_empty() {
            network.ice_servers = registration.ice_servers.clone();
            server_ice = true;
        }
        let mut config = EngineConfig {
            network,
            server_ice,
            do_not_disturb: self.settings.do_not_disturb,
            ..EngineConfig::default()
        };
        if let Some(patience) = kind.setup_patience() {
            config.connect_timeout = patience;
        }
        // The engine tells the UI itself; what this task needs to know rides along.
        let (status_tx, mut status) = watch::channel(CallStatus::default());
        let ui = self.ui.clone();
        let sink = CallEvents::sink(move |event| {
            status_tx.send_if_modified(|s| s.observe(&event));
            ui.send(UiEvent::Call(event));
        });
        let _presence_wakes = presence.map(|p| self.show_presence(p));
        let engine = CallEngine::start_into(signaling, events, self.media_setup(), config, sink);
        *self.engine.lock().unwrap_or_else(|p| p.into_inner()) = Some(engine.clone());
        if let Some(command) = self.start.take() {
            engine.send(command);
        }
        loop {
            tokio::select! {
                changed = status.changed() => {
                    if changed.is_err() {
                        return Next::Reconnect;
                    }
                    let now = *status.borrow_and_update();
                    // A lost session is opened again once no call needs this engine.
                    if now.signaling_lost && !now.in_call && !kind.resumes_by_itself() {
                        return Next::Reconnect;
                    }
                },
                command = commands.recv() => match command {
                    None => return Next::Quit,
                    Some(BackendCommand::Retry) => {}
                    Some(BackendCommand::Paste(text)) => self.paste(manual.as_deref(), &text),
                    Some(BackendCommand::Apply(settings)) => {
                        let reconnect = settings.signaling != self.settings.signaling
                            || settings.server != self.settings.server
                            || settings.room != self.settings.room
                            || settings.id != self.settings.id
                            || settings.tls_trust() != self.settings.tls_trust()
                            || settings.ice_servers != self.settings.ice_servers
                            || settings.relay_only != self.settings.relay_only;
                        self.settings = *settings;
                        if reconnect {
                            engine.send(CallCommand::HangUp);
                            return Next::Reconnect;
                        }
                        engine.set_media(self.media_setup());
                    }
                },
            }
        }
    }
}

impl Task {
    fn set_presence(&self, watch: Option<PresenceWatch>) {
        self.presence
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .set(watch);
        (self.ui.repaint)();
    }

    /// Hands the window the session's presence list, and wakes it at each change (until the
    /// session ends: the handle aborts it).
    fn show_presence(&self, presence: PresenceWatch) -> AbortOnDrop {
        self.set_presence(Some(presence.clone()));
        let mut changes = presence;
        let repaint = self.ui.repaint.clone();
        AbortOnDrop(tokio::spawn(async move {
            while changes.changed().await.is_ok() {
                repaint();
            }
        }))
    }

    /// Shows each line to copy as it comes (gone when the session ends: the handle aborts it).
    fn show_lines(&self, manual: &ManualSignaling) -> AbortOnDrop {
        let mut lines = manual.lines();
        let ui = self.ui.clone();
        AbortOnDrop(tokio::spawn(async move {
            while lines.changed().await.is_ok() {
                let line = lines.borrow_and_update().clone();
                ui.backend(BackendEvent::ManualLine(line));
            }
        }))
    }

    fn paste(&self, manual: Option<&ManualSignaling>, text: &str) {
        let outcome = match manual {
            Some(manual) => manual.paste(text).map_err(|e| e.to_string()),
            None => Err("nothing to paste into: the signaling is not manual".into()),
        };
        self.ui.backend(BackendEvent::Pasted(outcome));
    }
}

/// A task that ends with its owner.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

fn is_local(server: &str) -> bool {
    server.contains("://127.") || server.contains("://localhost") || server.contains("://[::1]")
}

/// The port of `ws://host:port/…`.
fn server_port(url: &str) -> Option<u16> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split('/').next()?;
    authority.rsplit_once(':')?.1.parse().ok()
}

/// `http://ADDR:PORT/` for each of this machine's non-loopback IPv4 addresses.
pub fn lan_urls(scheme: &str, port: u16) -> Vec<String> {
    let Ok(interfaces) = if_addrs::get_if_addrs() else {
        return Vec::new();
    };
    interfaces
        .into_iter()
        .filter(|i| !i.is_loopback())
        .filter_map(|i| match i.ip() {
            std::net::IpAddr::V4(ip) => Some(format!("{scheme}://{ip}:{port}/")),
            std::net::IpAddr::V6(_) => None,
        })
        .collect()
}

/// The embedded server also on https ([`EMBEDDED_TLS_PORT`]), with the self-signed certificate
/// kept in the data folder. Without it (the port is taken, the folder is not writable) it goes
/// on without TLS, saying why in the log.
async fn with_tls(mut server: Server) -> (Server, Option<String>) {
    let Some(dir) =
        crate::ui::recents::Recents::default_path().and_then(|p| p.parent().map(|d| d.join("tls")))
    else {
        return (server, None);
    };
    let bind: std::net::SocketAddr = ([0, 0, 0, 0], EMBEDDED_TLS_PORT).into();
    let identity = match crate::server::tls::TlsIdentity::kept_in(
        &dir,
        &crate::server::tls::local_names(bind),
    ) {
        Ok(identity) => identity,
        Err(e) => {
            tracing::warn!(error = %e, "the embedded server serves no https");
            return (server, None);
        }
    };
    let fingerprint = identity.fingerprint_hex();
    match server.also_tls(bind, identity).await {
        Ok(()) => {
            for url in lan_urls("https", EMBEDDED_TLS_PORT) {
                tracing::info!(%url, certificate_sha256 = %fingerprint, "browsers on your network can open");
            }
            (server, Some(fingerprint))
        }
        Err(e) => {
            tracing::warn!(error = %e, port = EMBEDDED_TLS_PORT, "the embedded server serves no https");
            (server, None)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_port_of_a_server_url() {
        assert_eq!(server_port("ws://127.0.0.1:8480/ws"), Some(8480));
        assert_eq!(server_port("wss://[::1]:9000/ws"), Some(9000));
        assert_eq!(server_port("wss://example.org/ws"), None);
        assert!(is_local("ws://localhost:1/ws"));
        assert!(!is_local("wss://example.org/ws"));
    }
}
