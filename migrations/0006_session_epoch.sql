-- Logging out ends every session of the user, including a copied cookie: a session's JWT
-- carries the user's epoch at sign-in, and the control plane accepts it only while the
-- epoch is unchanged. Logout (and anything else that must end sessions) increments it.
alter table app_user add column session_epoch integer not null default 0;
alter table app_user add constraint app_user_session_epoch_check check (session_epoch >= 0);
