//! The account and session store on both backends: sign-up writes a tenant, its owner and the
//! membership together or not at all, sessions are found by their token's hash and pruned once
//! ended, failed sign-ins are counted per email and per address and pruned past the window.

use crate::common;

use common::{Backend, TestApp};
use origin::domain::accounts::{self, roles};
use origin::ids::{new_id, now_ms};
use origin::store::TenantRow;
use origin::store::accounts::{AccountRow, SessionRow, SignUp};

fn tenant(name: &str, now: i64) -> TenantRow {
    TenantRow {
        id: new_id("ten"),
        name: name.to_owned(),
        tokens: 0,
        created_at: now,
    }
}

fn account(email: &str, now: i64) -> AccountRow {
    AccountRow {
        id: new_id("acc"),
        email: email.to_owned(),
        password_hash: "$argon2id$stand-in".to_owned(),
        created_at: now,
        email_verified_at: None,
    }
}

async fn sign_up_writes_the_tenant_and_its_owner_together(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let store = app.store.as_ref();
    let now = now_ms();
    let (first, owner) = (
        tenant("Keller Keys", now),
        account("anna@keller.example", now),
    );
    assert_eq!(
        store.sign_up(&first, &owner).await.unwrap(),
        SignUp::Created
    );
    let memberships = store.memberships(&owner.id).await.unwrap();
    assert_eq!(memberships.len(), 1);
    assert_eq!(memberships[0].tenant_id, first.id);
    assert_eq!(memberships[0].tenant_name, "Keller Keys");
    assert_eq!(memberships[0].role, roles::OWNER);
    let found = store
        .find_account_by_email("anna@keller.example")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.id, owner.id);

    // The same email again: nothing written, not even the second tenant.
    let second = tenant("Copy", now);
    let again = account("anna@keller.example", now);
    assert_eq!(
        store.sign_up(&second, &again).await.unwrap(),
        SignUp::EmailTaken
    );
    assert!(store.get_tenant(&second.id).await.unwrap().is_none());
    assert!(store.memberships(&again.id).await.unwrap().is_empty());

    // A membership is of one tenant: another's, or none, is nothing.
    assert!(
        store
            .membership(&owner.id, &first.id)
            .await
            .unwrap()
            .is_some()
    );
    let (other, bert) = (
        tenant("Bert's Books", now),
        account("bert@books.example", now),
    );
    store.sign_up(&other, &bert).await.unwrap();
    assert!(
        store
            .membership(&owner.id, &other.id)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .membership(&owner.id, "ten_missing")
            .await
            .unwrap()
            .is_none()
    );
}

async fn sessions_are_found_by_hash_and_pruned_once_ended(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let store = app.store.as_ref();
    let now = now_ms();
    let owner = account("anna@keller.example", now);
    store
        .sign_up(&tenant("Keller Keys", now), &owner)
        .await
        .unwrap();
    let session = |token: &str, created_at: i64| SessionRow {
        id: new_id("ses"),
        token_hash: accounts::session_token_hash(token),
        account_id: owner.id.clone(),
        created_at,
        last_seen_at: created_at,
    };
    let old = session("old-token", now - accounts::SESSION_IDLE_MS - 1);
    store
        .insert_session(&old, accounts::ended_session_cutoffs(old.created_at))
        .await
        .unwrap();
    assert!(store.find_session(&old.token_hash).await.unwrap().is_some());

    let live = session("live-token", now);
    store
        .insert_session(&live, accounts::ended_session_cutoffs(now))
        .await
        .unwrap();
    assert!(
        store.find_session(&old.token_hash).await.unwrap().is_none(),
        "an ended session is dropped when the next one is made"
    );
    let found = store.find_session(&live.token_hash).await.unwrap().unwrap();
    assert_eq!(found.session_id, live.id);
    assert_eq!(found.email, "anna@keller.example");
    assert!(
        store
            .find_session(&accounts::session_token_hash("live-tokeN"))
            .await
            .unwrap()
            .is_none()
    );

    store.touch_session(&live.id, now + 60_000).await.unwrap();
    let touched = store.find_session(&live.token_hash).await.unwrap().unwrap();
    assert_eq!(touched.last_seen_at, now + 60_000);
    assert!(store.delete_session(&live.token_hash).await.unwrap());
    assert!(!store.delete_session(&live.token_hash).await.unwrap());
    assert!(
        store
            .find_session(&live.token_hash)
            .await
            .unwrap()
            .is_none()
    );
}

async fn failed_sign_ins_are_counted_per_email_and_per_address(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let store = app.store.as_ref();
    let now = now_ms();
    let window = accounts::SIGN_IN_WINDOW_MS;
    let record = |email: &'static str, address: &'static str, at: i64| async move {
        store
            .record_sign_in_failure(email, address, at, at - window)
            .await
            .unwrap()
    };
    record("anna@keller.example", "198.51.100.1", now - 2 * window).await;
    record("anna@keller.example", "198.51.100.1", now - 2000).await;
    record("anna@keller.example", "198.51.100.2", now - 1000).await;
    record("bert@books.example", "198.51.100.1", now).await;

    let since = now - window;
    let (by_email, by_address) = store
        .sign_in_failures("anna@keller.example", "198.51.100.1", since)
        .await
        .unwrap();
    let mut by_email = by_email;
    by_email.sort_unstable();
    assert_eq!(by_email, [now - 2000, now - 1000], "the old one is pruned");
    let mut by_address = by_address;
    by_address.sort_unstable();
    assert_eq!(by_address, [now - 2000, now]);

    store
        .clear_sign_in_failures("anna@keller.example")
        .await
        .unwrap();
    let (by_email, by_address) = store
        .sign_in_failures("anna@keller.example", "198.51.100.1", since)
        .await
        .unwrap();
    assert!(by_email.is_empty());
    assert_eq!(
        by_address,
        [now],
        "another account's failure from the address stays"
    );
}

on_both_backends!(
    sign_up_writes_the_tenant_and_its_owner_together,
    sessions_are_found_by_hash_and_pruned_once_ended,
    failed_sign_ins_are_counted_per_email_and_per_address,
);
