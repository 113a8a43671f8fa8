DROP INDEX cache_invalidations_created_at;
DROP TRIGGER cache_invalidations_announced ON cache_invalidations;
DROP FUNCTION portcullis_announce_change();
DROP TRIGGER organizations_changed ON organizations;
DROP FUNCTION portcullis_organization_changed();
DROP TRIGGER memberships_changed ON memberships;
DROP FUNCTION portcullis_membership_changed();
DROP TRIGGER api_keys_changed ON api_keys;
DROP FUNCTION portcullis_api_key_changed();
