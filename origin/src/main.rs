//! The `origin` binary: parses the command line and runs `serve`, `migrate` or `admin …`.

use clap::Parser;
use origin::app::Application;
use origin::config::{Cli, Command, Settings};
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        // Colour codes only on a terminal, never in log files or pipes.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    if let Err(error) = run(cli.command).await {
        eprintln!("origin: {error:#}");
        std::process::exit(1);
    }
}

async fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Serve(args) => {
            let settings = Settings::resolve(*args)?;
            Application::build(settings).await?.run().await?;
        }
        Command::Migrate(database) => {
            let store = origin::admin::open_store(&database).await?;
            println!(
                "{}",
                serde_json::json!({ "migrated": true, "backend": store.backend() })
            );
        }
        Command::Admin { database, command } => {
            let store = origin::admin::open_store(&database).await?;
            let output = origin::admin::run(store.as_ref(), command).await?;
            println!("{output}");
        }
    }
    Ok(())
}
