//! An account deleted at the very instant its owner joins another
//! organization, whose other OWNER steps down on seeing them join: the
//! three transactions race on the blocking pool's threads, and whatever
//! order they commit in, no organization is left with members but no OWNER
//! and no membership names a deleted user.

use portcullis::accounts::members::Asker;
use std::collections::{HashMap, HashSet};
use std::time::Duration;

use chrono::Utc;
use portcullis::accounts::deletion::AccountDeletion;
use portcullis::accounts::{AccountsError, CurrentSession, Role, User};
use portcullis::audit::Origin;

use crate::support::{PASSWORD, TestApp};

/// Every organization with members has an OWNER, and every membership's
/// user exists: the invariants, over the whole database.
async fn assert_every_organization_keeps_an_owner(app: &TestApp, round: usize) {
    let (memberships, users) = app
        .state
        .store
        .run(|c| {
            use diesel::prelude::*;
            use portcullis::store::schema::{memberships, users};
            let m: Vec<(String, String, String)> = memberships::table
                .select((memberships::organization_id, memberships::user_id, memberships::role))
                .load(c)?;
            let u: Vec<String> = users::table.select(users::id).load(c)?;
            Ok((m, u))
        })
        .await
        .unwrap();
    let users: HashSet<String> = users.into_iter().collect();
    let mut owners: HashMap<&str, usize> = HashMap::new();
    for (org, user, role) in &memberships {
        assert!(users.contains(user), "round {round}: a membership in {org} names the deleted user {user}");
        *owners.entry(org).or_default() += usize::from(role == "OWNER");
    }
    for (org, count) in owners {
        assert!(count > 0, "round {round}: {org} has members but no OWNER: {memberships:?}");
    }
}

fn session_of(user: &User) -> CurrentSession {
    CurrentSession {
        session_id: "ses_race".into(),
        user: user.clone(),
        csrf_token: String::new(),
        expires_at: Utc::now() + chrono::Duration::hours(1),
        authenticated_at: Utc::now(),
    }
}

#[actix_web::test]
async fn deleting_an_account_while_it_joins_and_the_other_owner_steps_down_leaves_every_organization_an_owner() {
    const ROUNDS: usize = 16;
    let app = TestApp::spawn_with(|c| c.workers = Some(4)).await;
    for round in 0..ROUNDS {
        // Zed owns a team with one more member; Ulla has an organization of
        // her own (alone in it, no data: it goes with her) and an invitation
        // from Zed to join the team as OWNER.
        let (zed, team) = app.user().create().await;
        app.user().org(&team.id).role(Role::Developer).create().await;
        let (ulla, _) = app.user().create().await;
        let (_, token) = app
            .state
            .accounts
            .invite(&team.id, &ulla.email, Role::Owner, Some(zed.id.clone()), Some(Role::Owner))
            .await
            .unwrap();

        // The joining side starts a little later each round, so that its
        // commits fall before, inside and after the deletion's transaction
        // (which starts once the password is checked, in tens of ms).
        let stagger = Duration::from_millis(round as u64 * 15);
        let state = app.state.clone();
        let (who, team_id, zed_id) = (ulla.clone(), team.id.clone(), zed.id.clone());
        let joining = tokio::spawn(async move {
            tokio::time::sleep(stagger).await;
            let joined = state.accounts.accept_invitation(&token, &who, "127.0.0.1").await;
            // Losing to the deletion is a refusal in words, not a failure.
            if let Err(e) = &joined {
                assert!(matches!(e, AccountsError::Validation(_)), "the acceptance failed: {e:?}");
            }
            // Zed sees a second OWNER and steps down.
            let stepped_down = state.accounts.change_role(&team_id, &zed_id, Role::Developer, Asker::Operator).await;
            (joined.is_ok(), stepped_down)
        });
        let state = app.state.clone();
        let session = session_of(&ulla);
        let deleting = tokio::spawn(async move {
            let origin = Origin { actor: format!("user:{}", session.user.id), request_id: None, ip: None };
            state.accounts.delete_account(&session, PASSWORD, &origin).await
        });
        let (joined, stepped_down) = joining.await.unwrap();
        let deletion = deleting.await.unwrap();

        assert_every_organization_keeps_an_owner(&app, round).await;
        let gone = app.state.accounts.user(&ulla.id).await.unwrap().is_none();
        match &deletion {
            Ok(AccountDeletion::Deleted { .. }) => {
                assert!(gone, "round {round}");
            }
            Ok(AccountDeletion::LastOwner(org)) => {
                // Only the team can hold her: she joined it and Zed stepped down.
                assert_eq!(org.id, team.id, "round {round}");
                assert!(joined && matches!(stepped_down, Ok(Some(Role::Owner))), "round {round}");
            }
            Err(e) => panic!("round {round}: the deletion failed: {e:?}"),
        }
        if !gone && joined {
            let role = app.state.accounts.member(&team.id, &ulla.id).await.unwrap().map(|m| m.role);
            assert_eq!(role, Some(Role::Owner), "round {round}: her acceptance holds");
        }
    }
}

/// An acceptance that comes after its own account's deletion (the page was
/// open, the account deleted in another tab) or after the account was
/// disabled is refused in words: no membership names a user who is gone,
/// and the invitation stays pending for whoever signs up with the address.
#[actix_web::test]
async fn an_acceptance_by_a_deleted_or_disabled_account_is_refused_in_words_and_the_invitation_stays_pending() {
    let app = TestApp::spawn().await;
    let (zed, team) = app.user().create().await;
    for disable in [false, true] {
        let (ulla, _) = app.user().create().await;
        let (invitation, token) = app
            .state
            .accounts
            .invite(&team.id, &ulla.email, Role::Developer, Some(zed.id.clone()), Some(Role::Owner))
            .await
            .unwrap();
        if disable {
            assert!(app.state.accounts.disable_user(&ulla.id).await.unwrap());
        } else {
            let origin = Origin { actor: format!("user:{}", ulla.id), request_id: None, ip: None };
            let deleted = app.state.accounts.delete_account(&session_of(&ulla), PASSWORD, &origin).await.unwrap();
            assert!(matches!(deleted, AccountDeletion::Deleted { .. }), "{deleted:?}");
        }

        let refused = app.state.accounts.accept_invitation(&token, &ulla, "127.0.0.1").await;
        match refused {
            Err(AccountsError::Validation(message)) => {
                assert!(message.contains("your account was deleted or disabled"), "{message}")
            }
            other => panic!("disabled {disable}: {other:?}"),
        }
        assert!(app.state.accounts.member(&team.id, &ulla.id).await.unwrap().is_none(), "disabled {disable}");
        let still = app.state.accounts.invitation(&token).await.unwrap().expect("the invitation");
        assert_eq!((still.id, still.accepted_at, still.revoked_at), (invitation.id, None, None), "disabled {disable}");
    }
    assert_every_organization_keeps_an_owner(&app, 0).await;
}
