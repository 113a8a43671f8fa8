DROP INDEX cache_invalidations_created_at;
DROP TRIGGER organizations_deleted;
DROP TRIGGER organizations_changed;
DROP TRIGGER memberships_deleted;
DROP TRIGGER memberships_changed;
DROP TRIGGER memberships_added;
DROP TRIGGER api_keys_deleted;
DROP TRIGGER api_keys_changed;
