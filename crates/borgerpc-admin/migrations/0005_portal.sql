-- The web portal (issue 13): the portal-wide settings a superuser changes in the browser.
-- The web foundation's own tables (sessions, second factors, login log) are migration 4,
-- service_kit::web::session::SCHEMA.

-- second_factor: who must use a second factor: 'superusers' (the default), 'admins'
-- (superusers, customer and site admins) or 'everyone'.
CREATE TABLE portal_settings (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
