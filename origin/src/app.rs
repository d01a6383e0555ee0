//! `Application::build`: opens the store, migrates, wires the router and the jobs, binds the
//! listener; `run` serves and starts the jobs. `main` and the tests start the service the same
//! way (tests with port 0).

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context as _;
use tokio::net::TcpListener;

use crate::config::Settings;
use crate::domain::outbound::AllowList;
use crate::http::AppState;
use crate::jobs::Pipeline;
use crate::platforms::outbound::Outbound;
use crate::store::Store;
use crate::store::group_commit::IngestBatcher;

pub struct Application {
    listener: TcpListener,
    router: axum::Router,
    store: Arc<dyn Store>,
    pipeline: Option<Arc<Pipeline>>,
}

impl Application {
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        std::fs::create_dir_all(&settings.data_dir)
            .with_context(|| format!("creating the data dir {}", settings.data_dir.display()))?;
        let store = crate::store::connect(&settings.database_url).await?;
        store.migrate().await?;
        let allow = AllowList::parse(&settings.pipeline.outbound_allow_hosts)
            .map_err(anyhow::Error::msg)
            .context("OUTBOUND_ALLOW_HOSTS")?;
        let outbound = Outbound::new(allow);
        let ebay_identity_base_url = settings
            .connections
            .ebay_identity_base(&settings.pipeline.ebay_api_base_url);
        let delivery_policy = Pipeline::policy_of(&settings.pipeline);
        let platform_apis = crate::http::state::PlatformApis {
            ebay_api_base_url: settings.pipeline.ebay_api_base_url.clone(),
            etsy_api_base_url: settings.pipeline.etsy_api_base_url.clone(),
            etsy_api_key: settings.pipeline.etsy_api_key.clone(),
            etsy_shared_secret: settings.pipeline.etsy_shared_secret.clone(),
            token_refresh_margin_ms: i64::try_from(
                settings.pipeline.tokens.refresh_margin.as_millis(),
            )
            .unwrap_or(i64::MAX),
        };
        let pipeline = if settings.pipeline.enabled {
            let pipeline = Pipeline::new(
                store.clone(),
                settings.master_key.clone(),
                settings.pipeline,
                outbound.clone(),
            )
            .context("setting up delivery email")?;
            Some(Arc::new(pipeline))
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
            storage_quota: settings.storage_quota,
            max_keys_per_tenant: settings.max_keys_per_tenant,
            idempotency_retention_ms: settings.idempotency_retention_ms,
            ebay_identity_base_url,
            connections: settings.connections.clone(),
            ingest: IngestBatcher::start(store.clone()),
            outbound,
            delivery_policy,
            platform_apis,
        };
        let router = crate::http::router(state, settings.max_body_bytes, crate::web::routes());
        let listener = TcpListener::bind(settings.listen)
            .await
            .with_context(|| format!("listening on {}", settings.listen))?;
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

    /// Serves until Ctrl-C, with the jobs running beside the router.
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
