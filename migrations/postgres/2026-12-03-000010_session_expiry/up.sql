-- Every instance looks for expired sessions at each change poll, to end
-- them as a sign-out would (their apps' online tokens, back-channel logout).
CREATE INDEX sessions_expires_at ON sessions (expires_at);
