-- Every replica keeps verified customer sessions in memory (controller SessionCache). Whatever
-- changes or removes a customer's session or account row tells every replica, at the commit of
-- the change, on the channel reclothes_auth with the payload 'customer:<id>'; each replica then
-- forgets that customer's cached sessions. pg_notify folds identical payloads of one transaction
-- into one notification, so revoking many sessions of one customer sends one.
--
-- Staff sessions are not cached, so staff rows need no trigger.

CREATE FUNCTION notify_customer_session_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF TG_TABLE_NAME = 'sessions' THEN
    IF OLD.account_kind = 'customer' THEN
      PERFORM pg_notify('reclothes_auth', 'customer:' || OLD.account_id);
    END IF;
    IF TG_OP = 'UPDATE' AND NEW.account_kind = 'customer' THEN
      PERFORM pg_notify('reclothes_auth', 'customer:' || NEW.account_id);
    END IF;
  ELSE
    PERFORM pg_notify('reclothes_auth', 'customer:' || OLD.id);
  END IF;
  RETURN NULL;
END
$$;

CREATE TRIGGER sessions_notify_change AFTER UPDATE OR DELETE ON sessions
  FOR EACH ROW EXECUTE FUNCTION notify_customer_session_change();

-- Only the columns a cached principal depends on (status decides whether the session counts,
-- email is part of the principal); coin and profile updates do not disturb the cache.
CREATE TRIGGER customers_notify_change AFTER UPDATE OF status, email ON customers
  FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status OR OLD.email IS DISTINCT FROM NEW.email)
  EXECUTE FUNCTION notify_customer_session_change();

CREATE TRIGGER customers_notify_delete AFTER DELETE ON customers
  FOR EACH ROW EXECUTE FUNCTION notify_customer_session_change();

-- A TRUNCATE (restores, tests) removes rows without row triggers: everything is forgotten.
CREATE FUNCTION notify_all_sessions_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('reclothes_auth', 'all');
  RETURN NULL;
END
$$;

CREATE TRIGGER sessions_notify_truncate AFTER TRUNCATE ON sessions
  FOR EACH STATEMENT EXECUTE FUNCTION notify_all_sessions_changed();
CREATE TRIGGER customers_notify_truncate AFTER TRUNCATE ON customers
  FOR EACH STATEMENT EXECUTE FUNCTION notify_all_sessions_changed();
