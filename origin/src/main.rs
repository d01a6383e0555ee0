//! The `origin` binary: parses the command line and runs `serve`, `migrate` or `admin …`.

use clap::Parser;
use origin::app::{Application, Settings};
use origin::config::{Cli, Command};
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
        eprintln!("origin: {error}");
        std::process::exit(1);
    }
}

async fn run(command: Command) -> origin::app::anyhow_like::Result<()> {
    match command {
        Command::Serve(args) => {
            let master_key = origin::admin::resolve_master_key(
                &args.database.data_dir,
                args.master_key.as_ref(),
            )?;
            let settings = Settings {
                listen: args.listen,
                database_url: args.database.resolved_url(),
                data_dir: args.database.data_dir.clone(),
                edge_shared_secret: args.edge_shared_secret,
                master_key,
                public_base_url: args.public_base_url.clone(),
                max_body_bytes: args.max_body_bytes,
                max_upload_bytes: args.max_upload_bytes,
            };
            let pipeline = origin::delivery::worker::PipelineSettings::from_args(
                &args.pipeline,
                &args.database.data_dir,
                &args.public_base_url,
            );
            Application::build_with_pipeline(settings, pipeline)
                .await?
                .run()
                .await?;
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
