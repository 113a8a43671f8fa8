-- Attacker round 12, finding 2: only a person whose address is verified, or
-- whom an operator made (`portcullis user create`: the operator vouches for
-- the address), sends invitations. Existing users count as self-made.
ALTER TABLE users ADD COLUMN made_by_operator BOOLEAN NOT NULL DEFAULT FALSE;
