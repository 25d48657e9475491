//! The command line: parse, then hand over.

use std::net::SocketAddr;

use anyhow::Context;
use clap::{Parser, Subcommand};
use peercall::server::{Server, ServerConfig, DEFAULT_BIND};
use signaling_client::IceServer;

#[derive(Parser)]
#[command(name = "peercall", version, about = "Peer-to-peer video calls")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the signaling server alone (it also serves the browser client page).
    Serve {
        /// Address to listen on; port 0 picks a free one.
        #[arg(long, default_value = DEFAULT_BIND)]
        bind: SocketAddr,
        /// A STUN or TURN server handed to clients (`stun:host:port`,
        /// `turn:user:password@host:port`); repeat for more.
        #[arg(long = "ice-server", value_name = "URL")]
        ice_servers: Vec<String>,
    },
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    match cli.command {
        Some(Command::Serve { bind, ice_servers }) => runtime.block_on(serve(bind, ice_servers)),
        None => runtime.block_on(serve(DEFAULT_BIND.parse()?, Vec::new())),
    }
}

async fn serve(bind: SocketAddr, ice_servers: Vec<String>) -> anyhow::Result<()> {
    let config = ServerConfig {
        bind,
        ice_servers: ice_servers.iter().map(|u| IceServer::from_url(u)).collect(),
        ..ServerConfig::default()
    };
    let server = Server::bind(config)
        .await
        .with_context(|| format!("cannot listen on {bind}"))?;
    // Scripts read this line to learn the real port.
    println!("listening on http://{}", server.local_addr());
    server
        .serve(async {
            let _ = tokio::signal::ctrl_c().await;
            tracing::info!("shutting down");
        })
        .await
        .context("serving")
}
