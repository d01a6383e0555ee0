//! Operator commands (`origin admin …`): each returns the one JSON line the CLI prints.

use std::path::Path;
use std::sync::Arc;

use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};
use shared::apikey::KeyEnvironment;

use crate::app::anyhow_like::Result;
use crate::config::{AdminCommand, DatabaseArgs};
use crate::crypto::MasterKey;
use crate::domain::scopes::parse_scopes;
use crate::http::keys::make_key;
use crate::ids::{new_id, now_ms};
use crate::store::{Store, TenantRow};

/// Opens and migrates the database the arguments name.
pub async fn open_store(database: &DatabaseArgs) -> Result<Arc<dyn Store>> {
    std::fs::create_dir_all(&database.data_dir)?;
    let store = crate::store::connect(&database.resolved_url()).await?;
    store.migrate().await?;
    Ok(store)
}

/// The master key given, or the one generated on first start into `<data_dir>/master.key`.
pub fn resolve_master_key(data_dir: &Path, given: Option<&SecretString>) -> Result<MasterKey> {
    if let Some(key) = given {
        return Ok(MasterKey::from_hex(key.expose_secret())?);
    }
    std::fs::create_dir_all(data_dir)?;
    let path = data_dir.join("master.key");
    if !path.exists() {
        std::fs::write(&path, crate::crypto::random_hex(32))?;
        restrict_permissions(&path)?;
        tracing::warn!(path = %path.display(), "no MASTER_KEY given: generated one; back it up");
    }
    Ok(MasterKey::from_hex(&std::fs::read_to_string(&path)?)?)
}

#[cfg(unix)]
fn restrict_permissions(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
}

#[cfg(not(unix))]
fn restrict_permissions(_path: &Path) -> std::io::Result<()> {
    Ok(())
}

pub async fn run(store: &dyn Store, command: AdminCommand) -> Result<Value> {
    match command {
        AdminCommand::CreateTenant { name, tokens } => {
            if name.trim().is_empty() || tokens < 0 {
                return Err("--name must not be empty and --tokens must not be negative".into());
            }
            let tenant = TenantRow {
                id: new_id("ten"),
                name,
                tokens,
                created_at: now_ms(),
            };
            let (key, secret) = make_key(&tenant.id, "first key", &[], KeyEnvironment::Live);
            store.create_tenant(&tenant, &key).await?;
            Ok(json!({ "tenant_id": tenant.id, "api_key": secret }))
        }
        AdminCommand::CreateKey {
            tenant,
            scopes,
            test,
            name,
        } => {
            let scopes = parse_scopes(&scopes).map_err(|bad| format!("unknown scope {bad:?}"))?;
            if store.get_tenant(&tenant).await?.is_none() {
                return Err(format!("no tenant {tenant}").into());
            }
            let environment = if test {
                KeyEnvironment::Test
            } else {
                KeyEnvironment::Live
            };
            let (key, secret) = make_key(&tenant, &name, &scopes, environment);
            store.insert_api_key(&key).await?;
            Ok(
                json!({ "tenant_id": tenant, "key_id": key.id, "api_key": secret, "scopes": scopes }),
            )
        }
        AdminCommand::RevokeKey { key_id } => {
            let key = store
                .revoke_api_key(None, &key_id, now_ms())
                .await?
                .ok_or_else(|| format!("no key {key_id}"))?;
            Ok(json!({ "key_id": key.id, "tenant_id": key.tenant_id, "revoked": true }))
        }
        AdminCommand::AddTokens { tenant, amount } => {
            let balance = store
                .add_tokens(&tenant, amount)
                .await?
                .ok_or_else(|| format!("no tenant {tenant}, or the balance would go below zero"))?;
            Ok(json!({ "tenant_id": tenant, "token_balance": balance }))
        }
    }
}
