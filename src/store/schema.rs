//! The one schema for both backends. Kept in step by hand with
//! `migrations/sqlite` and `migrations/postgres`; the test suite runs every
//! query against both, so a drift fails there.

diesel::table! {
    organizations (id) {
        id -> Text,
        name -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    users (id) {
        id -> Text,
        email -> Text,
        email_normalized -> Text,
        password_hash -> Text,
        created_at -> Timestamp,
        password_changed_at -> Timestamp,
        tokens_revoked_at -> Nullable<Timestamp>,
        disabled_at -> Nullable<Timestamp>,
        email_verified_at -> Nullable<Timestamp>,
        made_by_operator -> Bool,
    }
}

diesel::table! {
    memberships (organization_id, user_id) {
        organization_id -> Text,
        user_id -> Text,
        role -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    sessions (id) {
        id -> Text,
        token_digest -> Text,
        user_id -> Text,
        csrf_token -> Text,
        created_at -> Timestamp,
        expires_at -> Timestamp,
    }
}

diesel::table! {
    login_failures (id) {
        id -> Text,
        throttle_key -> Text,
        failed_at -> Timestamp,
    }
}

diesel::table! {
    oauth_clients (id) {
        id -> Text,
        client_id -> Text,
        organization_id -> Text,
        name -> Text,
        client_type -> Text,
        redirect_uris -> Text,
        grant_types -> Text,
        scopes -> Text,
        homepage_url -> Nullable<Text>,
        logo_url -> Nullable<Text>,
        access_token_ttl_secs -> Nullable<Integer>,
        refresh_token_ttl_secs -> Nullable<Integer>,
        always_issue_refresh_token -> Bool,
        resource_server -> Bool,
        created_by -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        management -> Bool,
        require_pkce -> Bool,
        post_logout_redirect_uris -> Text,
        backchannel_logout_uri -> Nullable<Text>,
        subject_type -> Text,
        sector_identifier -> Nullable<Text>,
        id_token_signed_response_alg -> Text,
        tokens_valid_after -> Nullable<Timestamp>,
        made_by_key -> Nullable<Text>,
        ends_at -> Nullable<Timestamp>,
        made_by_app -> Nullable<Text>,
        made_by_secret -> Nullable<Text>,
    }
}

diesel::table! {
    oidc_logins (session_id, client_id) {
        session_id -> Text,
        client_id -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    client_secrets (id) {
        id -> Text,
        client_pk -> Text,
        secret_digest -> Text,
        created_at -> Timestamp,
        expires_at -> Nullable<Timestamp>,
        made_by_key -> Nullable<Text>,
    }
}

diesel::table! {
    authorization_codes (code_digest) {
        code_digest -> Text,
        client_id -> Text,
        user_id -> Text,
        redirect_uri -> Text,
        scope -> Text,
        code_challenge -> Nullable<Text>,
        code_challenge_method -> Nullable<Text>,
        nonce -> Nullable<Text>,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        consumed_at -> Nullable<Timestamp>,
        issued_jti -> Nullable<Text>,
        issued_family_id -> Nullable<Text>,
        session_id -> Nullable<Text>,
        auth_time -> Nullable<Timestamp>,
    }
}

diesel::table! {
    refresh_tokens (id) {
        id -> Text,
        token_digest -> Text,
        family_id -> Text,
        client_id -> Text,
        user_id -> Nullable<Text>,
        scope -> Text,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        family_expires_at -> Timestamp,
        rotated_at -> Nullable<Timestamp>,
        revoked_at -> Nullable<Timestamp>,
        access_jti -> Nullable<Text>,
        organization_id -> Nullable<Text>,
        parent_id -> Nullable<Text>,
        session_id -> Nullable<Text>,
        auth_time -> Nullable<Timestamp>,
    }
}

diesel::table! {
    revoked_access_tokens (jti) {
        jti -> Text,
        expires_at -> Timestamp,
    }
}

diesel::table! {
    consents (user_id, client_id) {
        user_id -> Text,
        client_id -> Text,
        scope -> Text,
        granted_at -> Timestamp,
    }
}

diesel::table! {
    client_tokens_revoked (user_id, client_id) {
        user_id -> Text,
        client_id -> Text,
        revoked_at -> Timestamp,
    }
}

diesel::table! {
    signing_keys (kid) {
        kid -> Text,
        algorithm -> Text,
        state -> Text,
        public_jwk -> Text,
        private_key_encrypted -> Text,
        created_at -> Timestamp,
        activated_at -> Nullable<Timestamp>,
        retired_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    cache_invalidations (id) {
        id -> BigInt,
        topic -> Text,
        item -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    api_keys (id) {
        id -> Text,
        organization_id -> Text,
        created_by -> Nullable<Text>,
        name -> Text,
        kind -> Text,
        environment -> Text,
        prefix -> Text,
        last_four -> Text,
        key_digest -> Text,
        scopes -> Text,
        rate_limit_per_minute -> Nullable<Integer>,
        expires_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
        last_used_at -> Nullable<Timestamp>,
        revoked_at -> Nullable<Timestamp>,
        rolled_from -> Nullable<Text>,
        made_by_key -> Nullable<Text>,
        made_by_app -> Nullable<Text>,
        made_by_secret -> Nullable<Text>,
    }
}

diesel::table! {
    audit_events (id) {
        id -> Text,
        organization_id -> Text,
        action -> Text,
        actor -> Text,
        target -> Nullable<Text>,
        details -> Text,
        request_id -> Nullable<Text>,
        ip -> Nullable<Text>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    invitations (id) {
        id -> Text,
        organization_id -> Text,
        email -> Text,
        email_normalized -> Text,
        role -> Text,
        token_digest -> Text,
        invited_by -> Nullable<Text>,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        accepted_at -> Nullable<Timestamp>,
        accepted_by -> Nullable<Text>,
        revoked_at -> Nullable<Timestamp>,
        made_by_key -> Nullable<Text>,
    }
}

diesel::table! {
    email_verifications (token_digest) {
        token_digest -> Text,
        user_id -> Text,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        used_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    email_outbox (id) {
        id -> Text,
        recipient -> Text,
        subject -> Text,
        body_sealed -> Text,
        created_at -> Timestamp,
        next_attempt_at -> Timestamp,
        attempts -> Integer,
        last_error -> Nullable<Text>,
        sent_at -> Nullable<Timestamp>,
        failed_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    password_resets (token_digest) {
        token_digest -> Text,
        user_id -> Text,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        used_at -> Nullable<Timestamp>,
    }
}

diesel::joinable!(memberships -> organizations (organization_id));
diesel::joinable!(memberships -> users (user_id));
diesel::joinable!(sessions -> users (user_id));
diesel::table! {
    pairwise_subjects (subject) {
        subject -> Text,
        user_id -> Text,
        organization_id -> Text,
        created_at -> Timestamp,
    }
}

diesel::joinable!(oidc_logins -> sessions (session_id));

diesel::table! {
    form_submissions (token_digest) {
        token_digest -> Text,
        user_id -> Text,
        expires_at -> Timestamp,
    }
}

diesel::joinable!(oauth_clients -> organizations (organization_id));
diesel::joinable!(client_secrets -> oauth_clients (client_pk));
diesel::joinable!(api_keys -> organizations (organization_id));
diesel::joinable!(invitations -> organizations (organization_id));

diesel::allow_tables_to_appear_in_same_query!(
    organizations,
    users,
    memberships,
    sessions,
    password_resets,
    email_verifications,
    email_outbox,
    form_submissions,
    login_failures,
    oauth_clients,
    client_secrets,
    authorization_codes,
    refresh_tokens,
    revoked_access_tokens,
    consents,
    client_tokens_revoked,
    signing_keys,
    cache_invalidations,
    api_keys,
    audit_events,
    invitations,
    oidc_logins,
    pairwise_subjects,
);
