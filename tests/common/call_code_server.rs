//! A call-code signaling server as the `webrtc_call` Django app behaves, quirks included: one
//! endpoint, `POST /call/call_line_process/`; the first to dial a code is the initiator; 400 for
//! an unknown user or a step out of turn; a pair either side of which has not polled for
//! [`EXPIRY`] is deleted on the next request; and rows saved whole, so two `ice` posts close
//! together can overwrite each other (one candidate lost). It also serves the test pages under
//! `/call/page/`.
#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};

/// A side silent this long is forgotten with its pair.
pub const EXPIRY: Duration = Duration::from_secs(10);
/// How long an `ice` request holds its copy of the row before saving it back.
const ROW_SAVE_DELAY: Duration = Duration::from_millis(40);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Who {
    Initiator,
    Subscriber,
}

#[derive(Debug, Clone, Default)]
struct Pair {
    initiator: String,
    subscriber: Option<String>,
    offer: Option<Value>,
    answer: Option<Value>,
    /// The answer was handed to the initiator: the pair is connected.
    connected: bool,
    /// Candidates each side posted, and how many of them the other side was given.
    initiator_ice: Vec<Value>,
    subscriber_ice: Vec<Value>,
    initiator_got: usize,
    subscriber_got: usize,
    last_poll: HashMap<String, Instant>,
}

#[derive(Default)]
pub struct Lines {
    pairs: HashMap<String, Pair>,
    users: HashMap<String, String>,
    /// Every request, by code (for tests to look at).
    pub log: Vec<String>,
    /// Answer every request with this status instead (for tests of a broken server).
    pub broken: Option<StatusCode>,
}

type Shared = Arc<Mutex<Lines>>;

pub struct CallCodeServer {
    pub base: String,
    pub lines: Shared,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for CallCodeServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl CallCodeServer {
    pub async fn start() -> CallCodeServer {
        let lines: Shared = Arc::default();
        let app = Router::new()
            .route("/call/call_line_process/", post(process))
            .route("/call/page/{name}", get(page))
            .route(
                "/garbage/call_line_process/",
                post(|| async { "<html>oops" }),
            )
            .with_state(lines.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}/call", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        CallCodeServer { base, lines, task }
    }

    pub fn set_broken(&self, status: Option<StatusCode>) {
        self.lines.lock().unwrap().broken = status;
    }

    pub fn requests(&self, code: &str) -> usize {
        self.lines
            .lock()
            .unwrap()
            .log
            .iter()
            .filter(|c| *c == code)
            .count()
    }
}

fn bad() -> Response {
    (StatusCode::BAD_REQUEST, "bad request").into_response()
}

/// tests/pages, and the helpers every test page shares (`common.js`, kept with the socket.io
/// pages).
async fn page(axum::extract::Path(name): axum::extract::Path<String>) -> Response {
    let tests = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests");
    let path = match name.as_str() {
        "common.js" => tests.join("socketio/pages/common.js"),
        _ if name.contains('/') || name.contains("..") => {
            return StatusCode::NOT_FOUND.into_response()
        }
        _ => tests.join("pages").join(&name),
    };
    match std::fs::read_to_string(path) {
        Ok(text) if name.ends_with(".html") => Html(text).into_response(),
        Ok(text) => ([("content-type", "text/javascript")], text).into_response(),
        Err(_) => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn process(State(lines): State<Shared>, Json(body): Json<Value>) -> Response {
    let code = body["code"].as_str().unwrap_or("").to_string();
    {
        let mut l = lines.lock().unwrap();
        l.log.push(code.clone());
        if let Some(status) = l.broken {
            return (status, "broken on purpose").into_response();
        }
        expire(&mut l);
    }
    if code == "dial" {
        return dial(&lines, &body);
    }
    let Some(user) = body["user_id"].as_str().map(str::to_string) else {
        return bad();
    };
    if code == "ice" {
        return ice(&lines, &user, &body).await;
    }
    let mut l = lines.lock().unwrap();
    let Some(call_code) = l.users.get(&user).cloned() else {
        return bad();
    };
    let Some(pair) = l.pairs.get_mut(&call_code) else {
        return bad();
    };
    let who = if pair.initiator == user {
        Who::Initiator
    } else {
        Who::Subscriber
    };
    match code.as_str() {
        "get_status" => {
            pair.last_poll.insert(user.clone(), Instant::now());
            Json(status(pair, who)).into_response()
        }
        "offer" if who == Who::Initiator && pair.subscriber.is_some() && pair.offer.is_none() => {
            pair.offer = Some(body["offer"].clone());
            Json(json!({})).into_response()
        }
        "answer" if who == Who::Subscriber && pair.offer.is_some() && pair.answer.is_none() => {
            pair.answer = Some(body["answer"].clone());
            Json(json!({})).into_response()
        }
        "disconnect" => {
            let pair = l.pairs.remove(&call_code).unwrap();
            l.users.remove(&pair.initiator);
            if let Some(s) = &pair.subscriber {
                l.users.remove(s);
            }
            Json(json!({})).into_response()
        }
        _ => bad(),
    }
}

fn dial(lines: &Shared, body: &Value) -> Response {
    let Some(call_code) = body["call_code"].as_str().map(str::to_string) else {
        return bad();
    };
    let user: String = (0..4)
        .map(|_| format!("{:016x}", rand::random::<u64>()))
        .collect();
    let mut l = lines.lock().unwrap();
    match l.pairs.get_mut(&call_code) {
        None => {
            let mut pair = Pair {
                initiator: user.clone(),
                ..Pair::default()
            };
            pair.last_poll.insert(user.clone(), Instant::now());
            l.pairs.insert(call_code.clone(), pair);
        }
        Some(pair) if pair.subscriber.is_none() => {
            pair.subscriber = Some(user.clone());
            pair.last_poll.insert(user.clone(), Instant::now());
        }
        Some(_) => return bad(),
    }
    l.users.insert(user.clone(), call_code);
    Json(json!({"user_id": user})).into_response()
}

fn status(pair: &mut Pair, who: Who) -> Value {
    match who {
        Who::Initiator => {
            if pair.subscriber.is_none() {
                json!({})
            } else if pair.offer.is_none() {
                json!({"code": "need_init"})
            } else if pair.answer.is_none() {
                json!({})
            } else if !pair.connected {
                pair.connected = true;
                json!({"code": "answered", "answer": pair.answer})
            } else {
                let new = pair.subscriber_ice[pair.initiator_got..].to_vec();
                pair.initiator_got = pair.subscriber_ice.len();
                json!({"code": "connected", "new_ice_routes": new})
            }
        }
        Who::Subscriber => {
            if pair.offer.is_none() {
                json!({})
            } else if pair.answer.is_none() {
                json!({"code": "offered", "offer": pair.offer})
            } else {
                let new = pair.initiator_ice[pair.subscriber_got..].to_vec();
                pair.subscriber_got = pair.initiator_ice.len();
                json!({"code": "connected", "new_ice_routes": new})
            }
        }
    }
}

/// Appends a candidate the way the original does: the row is read, the request goes on, and the
/// row is saved whole — a second `ice` saved in between is overwritten.
async fn ice(lines: &Shared, user: &str, body: &Value) -> Response {
    let (call_code, who, mut list) = {
        let l = lines.lock().unwrap();
        let Some(call_code) = l.users.get(user).cloned() else {
            return bad();
        };
        let Some(pair) = l.pairs.get(&call_code) else {
            return bad();
        };
        let who = if pair.initiator == user {
            Who::Initiator
        } else {
            Who::Subscriber
        };
        let list = match who {
            Who::Initiator => pair.initiator_ice.clone(),
            Who::Subscriber => pair.subscriber_ice.clone(),
        };
        (call_code, who, list)
    };
    list.push(body["ice"].clone());
    tokio::time::sleep(ROW_SAVE_DELAY).await;
    let mut l = lines.lock().unwrap();
    let Some(pair) = l.pairs.get_mut(&call_code) else {
        return bad();
    };
    match who {
        Who::Initiator => pair.initiator_ice = list,
        Who::Subscriber => pair.subscriber_ice = list,
    }
    Json(json!({})).into_response()
}

fn expire(l: &mut Lines) {
    let now = Instant::now();
    let stale: Vec<String> = l
        .pairs
        .iter()
        .filter(|(_, pair)| {
            let mut sides = vec![pair.initiator.clone()];
            sides.extend(pair.subscriber.clone());
            sides.iter().any(|side| {
                pair.last_poll
                    .get(side)
                    .is_none_or(|t| now.duration_since(*t) >= EXPIRY)
            })
        })
        .map(|(code, _)| code.clone())
        .collect();
    for code in stale {
        if let Some(pair) = l.pairs.remove(&code) {
            l.users.remove(&pair.initiator);
            if let Some(s) = pair.subscriber {
                l.users.remove(&s);
            }
        }
    }
}
