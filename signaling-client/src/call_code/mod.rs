//! Call-code servers over HTTP (the `webrtc_call` design): both sides dial the same code at one
//! endpoint, `POST {base}/call_line_process/`, and poll it for what the other side posted. No
//! presence, no ringing: a dial waits for whoever dials the same code. See `docs/transports.md`.
//!
//! The rules live in [`line`]; this file does the HTTP and the timing: it polls fast while a
//! call is set up, then once a second (the server forgets a side silent for 10 s).

mod line;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use serde_json::{json, Value};
use tokio::sync::mpsc;

use crate::call_task::{own_registration, CallCommand, CurrentCall};
use crate::protocol::{ClientMessage, IceCandidate, SessionDescription};
use crate::signaling::{
    Registration, Signaling, SignalingError, SignalingEvent, SignalingEvents, EVENT_QUEUE,
};
use crate::tls::TlsTrust;
use line::{Line, Out, Post, Status};

/// Polling while the call is set up: each reply may move it on.
const FAST_POLL: Duration = Duration::from_millis(150);
/// Polling once connected: for late candidates, and so the server keeps the pair.
const SLOW_POLL: Duration = Duration::from_secs(1);
/// One request, at most.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(8);

pub struct CallCodeSignaling {
    shared: Arc<Shared>,
    events: Mutex<Option<SignalingEvents>>,
}

struct Shared {
    http: reqwest::Client,
    endpoint: String,
    events: mpsc::Sender<SignalingEvent>,
    /// The call being set up or running: one at a time.
    line: CurrentCall,
}

impl CallCodeSignaling {
    /// `base` is where the server's app lives, e.g. `http://host:8000/call`.
    pub fn new(base: &str, tls: TlsTrust) -> Result<CallCodeSignaling, SignalingError> {
        let url = url::Url::parse(base).map_err(|_| SignalingError::BadUrl(base.to_string()))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(SignalingError::BadUrl(base.to_string()));
        }
        let endpoint = format!("{}/call_line_process/", base.trim_end_matches('/'));
        let http = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .connect_timeout(Duration::from_secs(5))
            .tls_backend_preconfigured((*tls.http_config()).clone())
            .build()
            .map_err(|e| SignalingError::Unreachable {
                url: base.to_string(),
                reason: e.to_string(),
            })?;
        let (events, rx) = mpsc::channel(EVENT_QUEUE);
        Ok(CallCodeSignaling {
            shared: Arc::new(Shared {
                http,
                endpoint,
                events,
                line: CurrentCall::default(),
            }),
            events: Mutex::new(Some(rx)),
        })
    }
}

#[async_trait]
impl Signaling for CallCodeSignaling {
    /// Nothing to register: a call-code server knows nobody until they dial.
    async fn register(&self, id: Option<String>) -> Result<Registration, SignalingError> {
        Ok(own_registration(id, &self.shared.events).await)
    }

    async fn send(&self, message: ClientMessage) -> Result<(), SignalingError> {
        self.shared.line.route(message, |code, call_id, commands| {
            tokio::spawn(run_line(self.shared.clone(), code, call_id, commands));
        })
    }

    fn take_events(&self) -> Option<SignalingEvents> {
        self.events.lock().unwrap_or_else(|p| p.into_inner()).take()
    }
}

/// Why a request did not give a reply to go on with.
enum Failure {
    /// HTTP 400: the server does not know our user ID (any more), or refused the step.
    Refused,
    Other(String),
}

impl Shared {
    async fn post(&self, body: Value) -> Result<Value, Failure> {
        let response = self
            .http
            .post(&self.endpoint)
            .json(&body)
            .send()
            .await
            .map_err(|e| Failure::Other(format!("cannot reach {}: {e}", self.endpoint)))?;
        let status = response.status();
        if status == reqwest::StatusCode::BAD_REQUEST {
            return Err(Failure::Refused);
        }
        if !status.is_success() {
            return Err(Failure::Other(format!(
                "{} answered {status}",
                self.endpoint
            )));
        }
        let text = response
            .text()
            .await
            .map_err(|e| Failure::Other(format!("reading {}: {e}", self.endpoint)))?;
        if text.trim().is_empty() {
            return Ok(json!({}));
        }
        serde_json::from_str(&text).map_err(|_| {
            Failure::Other(format!(
                "{} answered something that is not JSON: {:.80}",
                self.endpoint, text
            ))
        })
    }

    async fn emit(&self, event: SignalingEvent) {
        let _ = self.events.send(event).await;
    }

    async fn lost(&self, reason: String) {
        tracing::warn!(%reason, "call-code server");
        self.emit(SignalingEvent::Disconnected { reason }).await;
    }
}

async fn run_line(
    shared: Arc<Shared>,
    code: String,
    call_id: String,
    mut commands: mpsc::Receiver<CallCommand>,
) {
    let user_id = match shared
        .post(json!({"code": "dial", "call_code": code}))
        .await
    {
        Ok(reply) => match reply["user_id"].as_str() {
            Some(id) => id.to_string(),
            None => {
                return shared
                    .lost(format!("no user_id in the reply to dial: {reply}"))
                    .await
            }
        },
        Err(Failure::Refused) => {
            return shared
                .lost(format!("the call-code server refused to dial {code:?}"))
                .await
        }
        Err(Failure::Other(why)) => return shared.lost(why).await,
    };
    let mut line = Line::new(&code, &call_id);
    let mut next_poll = Instant::now();
    loop {
        let outs = tokio::select! {
            command = commands.recv() => match command {
                Some(CallCommand::Local(data)) => line.local(data, Instant::now()),
                Some(CallCommand::HangUp) | None => {
                    let _ = shared.post(json!({"code": "disconnect", "user_id": user_id})).await;
                    return;
                }
            },
            _ = tokio::time::sleep_until(next_poll.into()) => {
                let period = if line.is_connected() { SLOW_POLL } else { FAST_POLL };
                next_poll = Instant::now() + period;
                match shared.post(json!({"code": "get_status", "user_id": user_id})).await {
                    Ok(reply) => match parse_status(&reply) {
                        Ok(status) => {
                            let mut outs = line.status(status, Instant::now());
                            outs.extend(line.tick(Instant::now()));
                            outs
                        }
                        Err(why) => return shared.lost(why).await,
                    },
                    Err(Failure::Refused) => line.gone(),
                    Err(Failure::Other(why)) => return shared.lost(why).await,
                }
            }
        };
        for out in outs {
            match out {
                Out::Emit(event) => shared.emit(event).await,
                Out::Post(post) => {
                    let body = match post {
                        Post::Offer(offer) => {
                            json!({"code": "offer", "user_id": user_id, "offer": offer})
                        }
                        Post::Answer(answer) => {
                            json!({"code": "answer", "user_id": user_id, "answer": answer})
                        }
                        Post::Ice(ice) => json!({"code": "ice", "user_id": user_id, "ice": ice}),
                    };
                    match shared.post(body).await {
                        Ok(_) => {}
                        Err(Failure::Refused) => {
                            for event in line.gone() {
                                if let Out::Emit(event) = event {
                                    shared.emit(event).await;
                                }
                            }
                        }
                        Err(Failure::Other(why)) => return shared.lost(why).await,
                    }
                }
            }
        }
        if line.is_ended() {
            return;
        }
    }
}

/// A `get_status` reply in the server's words.
fn parse_status(reply: &Value) -> Result<Status, String> {
    let description = |field: &str| -> Result<SessionDescription, String> {
        serde_json::from_value(reply[field].clone())
            .map_err(|e| format!("a {field} the call-code server sent is not a description: {e}"))
    };
    Ok(match reply.get("code").and_then(Value::as_str) {
        None => Status::Waiting,
        Some("need_init") => Status::NeedInit,
        Some("offered") => Status::Offered(description("offer")?),
        Some("answered") => Status::Answered(description("answer")?),
        Some("connected") => {
            let routes = reply["new_ice_routes"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            let candidates = routes
                .into_iter()
                .filter_map(|r| serde_json::from_value::<IceCandidate>(r).ok())
                .collect();
            Status::Connected(candidates)
        }
        Some(other) => return Err(format!("the call-code server said {other:?}, not a status")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_replies_in_the_servers_words() {
        assert_eq!(parse_status(&json!({})), Ok(Status::Waiting));
        assert_eq!(
            parse_status(&json!({"code":"need_init"})),
            Ok(Status::NeedInit)
        );
        let offered = parse_status(&json!({"code":"offered","offer":{"type":"offer","sdp":"v=0"}}));
        assert!(matches!(offered, Ok(Status::Offered(d)) if d.sdp == "v=0"));
        let routes = json!({"code":"connected","new_ice_routes":[
            {"candidate":"candidate:1 1 udp 1 h 9 typ host","sdpMid":"0","sdpMLineIndex":0},
            {"nonsense":true}]});
        assert!(matches!(parse_status(&routes), Ok(Status::Connected(c)) if c.len() == 1));
        assert!(parse_status(&json!({"code":"offered","offer":7})).is_err());
        assert!(parse_status(&json!({"code":"dance"})).is_err());
    }

    #[test]
    fn only_http_servers() {
        assert!(CallCodeSignaling::new("ws://h/call", TlsTrust::WebPki).is_err());
        assert!(CallCodeSignaling::new("not a url", TlsTrust::WebPki).is_err());
    }
}
