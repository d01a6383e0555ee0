//! Operator commands (`origin admin …`): each returns the one JSON line the CLI prints. Keys
//! are minted by `domain::keys`, the same way the HTTP API mints them, and audited as the
//! operator's; the operator holds every scope and is not capped.

use std::sync::Arc;

use anyhow::{Context as _, anyhow, bail};
use serde_json::{Value, json};
use shared::apikey::KeyEnvironment;

use crate::config::{AdminCommand, DatabaseArgs};
use crate::domain::keys::make_key;
use crate::domain::scopes::Grant;
use crate::ids::{new_id, now_ms};
use crate::store::{ApiKeyRow, KeyChange, Store, TenantRow};

/// Opens and migrates the database the arguments name.
pub async fn open_store(database: &DatabaseArgs) -> anyhow::Result<Arc<dyn Store>> {
    std::fs::create_dir_all(&database.data_dir)
        .with_context(|| format!("creating the data dir {}", database.data_dir.display()))?;
    let store = crate::store::connect(&database.resolved_url()).await?;
    store.migrate().await?;
    Ok(store)
}

pub async fn run(store: &dyn Store, command: AdminCommand) -> anyhow::Result<Value> {
    match command {
        AdminCommand::CreateTenant { name, tokens } => {
            if name.trim().is_empty() || tokens < 0 {
                bail!("--name must not be empty and --tokens must not be negative");
            }
            let tenant = TenantRow {
                id: new_id("ten"),
                name,
                tokens,
                created_at: now_ms(),
            };
            let (key, secret) =
                key_row(&tenant.id, "first key", &Grant::Every, KeyEnvironment::Live);
            store.create_tenant(&tenant, &key).await?;
            Ok(json!({ "tenant_id": tenant.id, "api_key": secret }))
        }
        AdminCommand::CreateKey {
            tenant,
            scopes,
            test,
            name,
        } => {
            // No scopes: every scope, as before `*` existed.
            let grant = if scopes.is_empty() {
                Grant::Every
            } else {
                Grant::parse(&scopes).map_err(|error| anyhow!("{error}"))?
            };
            if store.get_tenant(&tenant).await?.is_none() {
                bail!("no tenant {tenant}");
            }
            let environment = if test {
                KeyEnvironment::Test
            } else {
                KeyEnvironment::Live
            };
            let (key, secret) = key_row(&tenant, &name, &grant, environment);
            store
                .insert_api_key(&key, &KeyChange::by_operator(now_ms()))
                .await?;
            let names = grant.names();
            Ok(json!({ "tenant_id": tenant, "key_id": key.id, "api_key": secret, "scopes": names }))
        }
        AdminCommand::RevokeKey { key_id } => {
            let key = store
                .revoke_api_key(None, &key_id, &KeyChange::by_operator(now_ms()))
                .await?
                .ok_or_else(|| anyhow!("no key {key_id}"))?;
            Ok(json!({ "key_id": key.id, "tenant_id": key.tenant_id, "revoked": true }))
        }
        AdminCommand::AddTokens { tenant, amount } => {
            let balance = store
                .add_tokens(&tenant, amount)
                .await?
                .ok_or_else(|| anyhow!("no tenant {tenant}, or the balance would go below zero"))?;
            Ok(json!({ "tenant_id": tenant, "token_balance": balance }))
        }
    }
}

/// A minted key and the row that stores it.
fn key_row(
    tenant_id: &str,
    name: &str,
    grant: &Grant,
    environment: KeyEnvironment,
) -> (ApiKeyRow, String) {
    let key = make_key(grant, environment);
    ApiKeyRow::minted(tenant_id, name, key)
}
