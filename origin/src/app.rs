//! `Application::build`: opens the store, migrates, binds the listener and wires the router.
//! `main` and the tests start the service the same way; tests pass port 0.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use secrecy::SecretString;
use tokio::net::TcpListener;

use crate::crypto::MasterKey;
use crate::delivery::worker::{Pipeline, PipelineSettings};
use crate::store::Store;
use crate::store::group_commit::IngestBatcher;

/// What handlers share.
#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub edge_secret: SecretString,
    pub master_key: MasterKey,
    pub public_base_url: String,
    pub files_dir: PathBuf,
    pub max_upload_bytes: u64,
    /// Event ingest with group commit (many requests, one transaction).
    pub ingest: IngestBatcher,
}

/// Everything `Application::build` needs, already resolved (see `config` for the flags).
pub struct Settings {
    pub listen: SocketAddr,
    pub database_url: String,
    pub data_dir: PathBuf,
    pub edge_shared_secret: SecretString,
    pub master_key: MasterKey,
    pub public_base_url: String,
    pub max_body_bytes: usize,
    pub max_upload_bytes: u64,
}

pub struct Application {
    listener: TcpListener,
    router: axum::Router,
    store: Arc<dyn Store>,
    pipeline: Option<Arc<Pipeline>>,
}

impl Application {
    /// The service with the pipeline's default settings (outbox under the data dir).
    pub async fn build(settings: Settings) -> anyhow_like::Result<Self> {
        let pipeline = PipelineSettings::defaults(&settings.data_dir, &settings.public_base_url);
        Self::build_with_pipeline(settings, pipeline).await
    }

    pub async fn build_with_pipeline(
        settings: Settings,
        pipeline: PipelineSettings,
    ) -> anyhow_like::Result<Self> {
        std::fs::create_dir_all(&settings.data_dir)?;
        let store = crate::store::connect(&settings.database_url).await?;
        store.migrate().await?;
        let pipeline = if pipeline.enabled {
            Some(Arc::new(Pipeline::new(
                store.clone(),
                settings.master_key.clone(),
                pipeline,
            )?))
        } else {
            None
        };
        let state = AppState {
            store: store.clone(),
            edge_secret: settings.edge_shared_secret,
            master_key: settings.master_key,
            public_base_url: settings.public_base_url.trim_end_matches('/').to_owned(),
            files_dir: settings.data_dir.join("files"),
            max_upload_bytes: settings.max_upload_bytes,
            ingest: IngestBatcher::start(store.clone()),
        };
        let router = crate::http::router(state, settings.max_body_bytes);
        let listener = TcpListener::bind(settings.listen).await?;
        Ok(Application {
            listener,
            router,
            store,
            pipeline,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    pub fn store(&self) -> Arc<dyn Store> {
        self.store.clone()
    }

    pub async fn run(self) -> std::io::Result<()> {
        tracing::info!(addr = %self.local_addr(), backend = self.store.backend(), "origin listening");
        if let Some(pipeline) = &self.pipeline {
            pipeline.spawn();
        }
        axum::serve(self.listener, self.router)
            .with_graceful_shutdown(shutdown_signal())
            .await
    }
}

async fn shutdown_signal() {
    let _ = tokio::signal::ctrl_c().await;
}

/// A boxed error for start-up paths, where the only thing to do is report and exit.
pub mod anyhow_like {
    pub type Result<T> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;
}
