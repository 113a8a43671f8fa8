//! What a key may do: its scopes, within what its creator's role allows.

use crate::accounts::Role;
use crate::oauth::scopes::ScopeSet;

/// Scopes of the management API and of the resources behind it.
pub const BROAD_SCOPES: [&str; 5] = ["read", "write", "delete", "admin", "webhook"];

/// Resource scopes restricted keys (`rk_…`) are made of.
pub const RESOURCE_SCOPES: [&str; 9] = [
    "apps:read",
    "apps:write",
    "apps:delete",
    "keys:read",
    "keys:write",
    "keys:delete",
    "members:read",
    "members:write",
    "audit:read",
];

/// What a resource scope lets a key do, as forms describe it (the broad
/// scopes' descriptions are the scope registry's).
pub fn describe_resource(scope: &str) -> Option<&'static str> {
    Some(match scope {
        "apps:read" => "See OAuth apps",
        "apps:write" => "Register and change OAuth apps",
        "apps:delete" => "Delete OAuth apps",
        "keys:read" => "See API keys (never their secrets)",
        "keys:write" => "Create, change and roll API keys",
        "keys:delete" => "Revoke API keys",
        "members:read" => "See members and invitations",
        "members:write" => "Invite members and change their roles",
        "audit:read" => "Read the audit log",
        _ => return None,
    })
}

/// The scopes that manage members and invitations. Only a person's
/// credential may hold them (docs/authority.md): a machine neither uses
/// them nor gives them to a key it makes.
pub const MEMBER_SCOPES: [&str; 2] = ["admin", "members:write"];

/// True when `role` may exercise `scope`: VIEWER reads, DEVELOPER also
/// writes and deletes (its own objects, checked per endpoint), ADMIN and
/// OWNER do everything, `admin` and `members:write` included.
pub fn role_allows(role: Role, scope: &str) -> bool {
    let reads = scope == "read" || scope.ends_with(":read");
    match role {
        Role::Owner | Role::Admin => true,
        // Everything but what `admin` stands for: member changes, the audit log.
        Role::Developer => scope != "admin" && broad_for(scope) != Some("admin"),
        Role::Viewer => reads,
    }
}

/// A key's scopes ∩ its creator's role. No role (the creator left the
/// organization, or was deleted): nothing.
pub fn effective(scopes: &ScopeSet, role: Option<Role>) -> ScopeSet {
    match role {
        Some(role) => scopes.iter().filter(|s| role_allows(role, s)).cloned().collect(),
        None => ScopeSet::new(),
    }
}

/// True when `granted` covers what an endpoint needs: the broad scope, or
/// the resource one (`apps:read` for a read of apps).
pub fn satisfies(granted: &ScopeSet, broad: &str, resource: Option<&str>) -> bool {
    granted.contains(broad) || resource.is_some_and(|r| granted.contains(r))
}

/// The broad scope that grants what a resource scope names: `keys:read` is
/// part of `read`; member changes and the audit log are part of `admin`.
pub fn broad_for(resource: &str) -> Option<&'static str> {
    match resource {
        "members:write" | "audit:read" => Some("admin"),
        r => match r.rsplit_once(':')?.1 {
            "read" => Some("read"),
            "write" => Some("write"),
            "delete" => Some("delete"),
            _ => None,
        },
    }
    .filter(|_| RESOURCE_SCOPES.contains(&resource))
}

/// True when the power `held` includes `scope`: the scope itself, or, for a
/// resource scope, the broad scope it is part of. What a credential creates
/// (a key, an app) may only carry scopes its creator's power covers.
pub fn covers(held: &ScopeSet, scope: &str) -> bool {
    held.contains(scope) || broad_for(scope).is_some_and(|b| held.contains(b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oauth::scopes::parse;

    #[test]
    fn a_viewers_key_only_reads_whatever_its_scopes_say() {
        let all = parse("read write delete admin webhook apps:read apps:write members:write").unwrap();
        assert_eq!(effective(&all, Some(Role::Viewer)), parse("read apps:read").unwrap());
        assert_eq!(
            effective(&all, Some(Role::Developer)),
            parse("read write delete webhook apps:read apps:write").unwrap()
        );
        assert_eq!(effective(&all, Some(Role::Owner)), all);
        assert!(effective(&all, None).is_empty());
        let audit = parse("audit:read members:read members:write").unwrap();
        assert_eq!(effective(&audit, Some(Role::Developer)), parse("members:read").unwrap());
    }

    #[test]
    fn every_resource_scope_is_described() {
        for scope in RESOURCE_SCOPES {
            assert!(describe_resource(scope).is_some(), "{scope}");
        }
        assert_eq!(describe_resource("read"), None);
    }

    #[test]
    fn resource_scopes_satisfy_their_resource_only() {
        let g = parse("apps:read").unwrap();
        assert!(satisfies(&g, "read", Some("apps:read")));
        assert!(!satisfies(&g, "read", Some("keys:read")));
        assert!(!satisfies(&g, "write", Some("apps:write")));
    }

    #[test]
    fn power_covers_its_scopes_and_the_resource_scopes_inside_them() {
        let held = parse("read write").unwrap();
        assert!(covers(&held, "read") && covers(&held, "keys:read") && covers(&held, "apps:write"));
        assert!(covers(&held, "members:read"));
        assert!(!covers(&held, "admin") && !covers(&held, "members:write") && !covers(&held, "audit:read"));
        assert!(!covers(&held, "delete") && !covers(&held, "keys:delete") && !covers(&held, "webhook"));
        let restricted = parse("keys:write").unwrap();
        assert!(covers(&restricted, "keys:write"));
        assert!(!covers(&restricted, "write") && !covers(&restricted, "keys:read") && !covers(&restricted, "admin"));
        assert!(covers(&parse("admin").unwrap(), "audit:read"));
        assert!(!covers(&parse("read").unwrap(), "invoices:read"), "operator scopes are held only by name");
    }
}
