-- Directory sign-in sends the password typed to the directory in a bind:
-- over an integration with `tls: none` that is in clear on the network.
-- It is refused unless an admin ticks "allow passwords in clear" here.
ALTER TABLE directory_sign_in ADD COLUMN allow_plaintext INTEGER NOT NULL DEFAULT 0;
