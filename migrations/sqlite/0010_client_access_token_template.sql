-- A client may name a JWT template that shapes its JWT access tokens: the
-- template's rendered claims are added to them. The name is kept, not the
-- template's ID, so a template can be replaced by one of the same name;
-- empty means none.
ALTER TABLE clients ADD COLUMN access_token_template TEXT NOT NULL DEFAULT '';
