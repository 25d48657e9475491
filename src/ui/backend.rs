//! The window's async side, on its own tokio runtime: finds or starts the signaling server,
//! registers, runs the call engine, and hands every event to the UI thread (asking it to repaint).
//! The UI never waits on any of it.

use std::sync::mpsc as std_mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use signaling_client::{IceServer, ManualSignaling, Opened, SignalingError, SignalingKind};
use tokio::sync::mpsc;

use super::settings::Settings;
use super::state::{BackendEvent, UiEvent};
use crate::call::media_setup::{MediaSetup, RgbaFrame};
use crate::call::participant::Participant;
use crate::call::peer::NetworkSettings;
use crate::call::{CallCommand, CallEngine, CallEvent, EngineConfig};
use crate::media::frame_slot::FrameSlot;
use crate::server::{RunningServer, Server, ServerConfig};

/// Where peercall looks for a server when none is configured, and where it starts its own.
pub const LOCAL_SERVER: &str = "ws://127.0.0.1:8480/ws";
pub const EMBEDDED_PORT: u16 = 8480;

pub enum BackendCommand {
    Call(CallCommand),
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
    /// The engine of the current session, to read who is in the call.
    engine: Arc<Mutex<Option<CallEngine>>>,
}

impl Backend {
    pub fn send(&self, command: BackendCommand) {
        let _ = self.commands.send(command);
    }

    /// Everyone else in the call now (their frames, their figures), in the order they came.
    pub fn participants(&self) -> Vec<Arc<Participant>> {
        let engine = self.engine.lock().unwrap_or_else(|p| p.into_inner());
        engine
            .as_ref()
            .map(|e| e.participants())
            .unwrap_or_default()
            .into_iter()
            .filter(|p| p.left().is_none())
            .collect()
    }
}

/// Tells the UI thread, and wakes it.
#[derive(Clone)]
pub struct UiLink {
    events: std_mpsc::Sender<UiEvent>,
    pub(crate) repaint: Arc<dyn Fn() + Send + Sync>,
}

impl UiLink {
    pub fn new(events: std_mpsc::Sender<UiEvent>, repaint: Arc<dyn Fn() + Send + Sync>) -> Self {
        UiLink { events, repaint }
    }

    fn send(&self, event: UiEvent) {
        let _ = self.events.send(event);
        (self.repaint)();
    }

    fn backend(&self, event: BackendEvent) {
        self.send(UiEvent::Backend(event));
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
    let engine = Arc::new(Mutex::new(None));
    let task = Task {
        settings,
        start,
        ui,
        local_frames: local_frames.clone(),
        engine: engine.clone(),
        embedded: None,
    };
    runtime.spawn(task.run(command_rx));
    Backend {
        commands,
        local_frames,
        engine,
    }
}

struct Task {
    settings: Settings,
    start: Option<CallCommand>,
    ui: UiLink,
    local_frames: Arc<FrameSlot<RgbaFrame>>,
    engine: Arc<Mutex<Option<CallEngine>>>,
    /// The server we run ourselves, when nobody else did.
    embedded: Option<RunningServer>,
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
                Ok((signaling, server)) => self.session(signaling, server, &mut commands).await,
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
                Some(BackendCommand::Call(_) | BackendCommand::Paste(_)) => self.ui.backend(
                    BackendEvent::Notice("not connected to a signaling server yet".into()),
                ),
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
        let lan_urls = match server_port(&server) {
            Some(port)
                if kind == SignalingKind::Peercall
                    && (self.embedded.is_some() || is_local(&server)) =>
            {
                lan_urls(port)
            }
            _ => Vec::new(),
        };
        self.ui.backend(BackendEvent::Connected {
            server: server.clone(),
            kind,
            embedded: self.embedded.is_some(),
            lan_urls,
        });
        self.ui
            .send(UiEvent::Call(crate::call::CallEvent::Registered {
                id: registration.id.clone(),
            }));
        let mut network = NetworkSettings {
            ice_servers: self.ice_servers(),
            ..NetworkSettings::default()
        };
        if network.ice_servers.is_empty() {
            network.ice_servers = registration.ice_servers.clone();
        }
        let mut config = EngineConfig {
            network,
            ..EngineConfig::default()
        };
        if let Some(patience) = kind.setup_patience() {
            config.connect_timeout = patience;
        }
        let (engine, mut calls) = CallEngine::start(signaling, events, self.media_setup(), config);
        *self.engine.lock().unwrap_or_else(|p| p.into_inner()) = Some(engine.clone());
        if let Some(command) = self.start.take() {
            engine.send(command);
        }
        let mut in_call = false;
        let mut lost = false;
        loop {
            tokio::select! {
                event = calls.recv() => match event {
                    Some(event) => {
                        match &event {
                            CallEvent::Calling { .. } | CallEvent::Incoming { .. } => in_call = true,
                            CallEvent::Ended { .. } => in_call = false,
                            CallEvent::SignalingLost { .. } => lost = !kind.resumes_by_itself(),
                            _ => {}
                        }
                        self.ui.send(UiEvent::Call(event));
                        // A lost session is opened again once no call needs this engine.
                        if lost && !in_call {
                            return Next::Reconnect;
                        }
                    }
                    None => return Next::Reconnect,
                },
                command = commands.recv() => match command {
                    None => return Next::Quit,
                    Some(BackendCommand::Call(command)) => engine.send(command),
                    Some(BackendCommand::Retry) => {}
                    Some(BackendCommand::Paste(text)) => self.paste(manual.as_deref(), &text),
                    Some(BackendCommand::Apply(settings)) => {
                        let reconnect = settings.signaling != self.settings.signaling
                            || settings.server != self.settings.server
                            || settings.room != self.settings.room
                            || settings.id != self.settings.id
                            || settings.tls_trust() != self.settings.tls_trust()
                            || settings.ice_servers != self.settings.ice_servers;
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
pub fn lan_urls(port: u16) -> Vec<String> {
    let Ok(interfaces) = if_addrs::get_if_addrs() else {
        return Vec::new();
    };
    interfaces
        .into_iter()
        .filter(|i| !i.is_loopback())
        .filter_map(|i| match i.ip() {
            std::net::IpAddr::V4(ip) => Some(format!("http://{ip}:{port}/")),
            std::net::IpAddr::V6(_) => None,
        })
        .collect()
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
