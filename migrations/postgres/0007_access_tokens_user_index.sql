-- Tokens issued to a client acting for itself (client_credentials) have no
-- user: leaving them out of the user index saves a page write per token.
DROP INDEX access_tokens_user_idx;
CREATE INDEX access_tokens_user_idx ON access_tokens (user_id, client_id) WHERE user_id <> '';
