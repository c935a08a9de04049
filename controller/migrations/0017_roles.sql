-- Roles as named permission sets (issue 18, item 6), and each staff member's manager.
--
-- A role names a set of the controller's compiled permissions (permissions.h). The six built-in
-- roles are rows too, seeded here with the sets of the compiled role table (permissions_of());
-- `reclothes-controller migrate` re-writes the built-in rows from that table after the
-- migrations, so a later binary that changes a built-in set brings the database along. Built-in
-- roles cannot be changed or deleted through the API; super_admin holds every permission.
-- Custom roles are defined by user admins; `operational` roles (checker, packer, delivery and
-- custom roles so marked) are the ones managers may give their own employees.
--
-- A staff session's permissions are read from these tables on every request (staff sessions
-- are never cached), so a change to a role or to an assignment holds on the next request on
-- every replica.

CREATE TABLE roles (
  name        text PRIMARY KEY CHECK (name ~ '^[a-z][a-z0-9_]{1,31}$'),
  description text NOT NULL DEFAULT '' CHECK (length(description) <= 500),
  builtin     boolean NOT NULL DEFAULT false,
  operational boolean NOT NULL DEFAULT false,
  created_at  timestamptz NOT NULL DEFAULT now(),
  updated_at  timestamptz NOT NULL DEFAULT now()
);

-- The permission names are the compiled enum's ("fleet.read"); the controller refuses others.
CREATE TABLE role_permissions (
  role       text NOT NULL REFERENCES roles (name) ON DELETE CASCADE,
  permission text NOT NULL CHECK (permission ~ '^[a-z_]+\.[a-z_]+$'),
  PRIMARY KEY (role, permission)
);

INSERT INTO roles (name, description, builtin, operational) VALUES
  ('checker', 'Checks donations and writes the product texts of what they publish', true, true),
  ('packer', 'Packs orders', true, true),
  ('delivery', 'Collects from and delivers to boxes', true, true),
  ('manager', 'Runs locations, boxes, orders, products and prices; assigns operational roles '
              'to their employees', true, false),
  ('user_admin', 'Manages staff accounts and roles', true, false),
  ('super_admin', 'Every permission', true, false);

INSERT INTO role_permissions (role, permission) VALUES
  ('checker', 'orders.read_assigned'), ('checker', 'products.write'),
  ('packer', 'orders.read_assigned'),
  ('delivery', 'orders.read_assigned'), ('delivery', 'fleet.read'), ('delivery', 'box.open'),
  ('delivery', 'tokens.issue_courier'),
  ('manager', 'fleet.read'), ('manager', 'fleet.write'), ('manager', 'box.open'),
  ('manager', 'box.register'), ('manager', 'staff.read'), ('manager', 'audit.read'),
  ('manager', 'tokens.issue_courier'), ('manager', 'orders.read_assigned'),
  ('manager', 'orders.read_all'), ('manager', 'orders.assign'), ('manager', 'products.write'),
  ('manager', 'prices.write'), ('manager', 'customers.read_masked'),
  ('manager', 'roles.assign_operational'), ('manager', 'orders.act_on_behalf'),
  ('manager', 'refunds.issue'),
  ('user_admin', 'staff.read'), ('user_admin', 'staff.write'), ('user_admin', 'roles.assign');
INSERT INTO role_permissions (role, permission)
  SELECT 'super_admin', p FROM unnest(ARRAY[
    'fleet.read', 'fleet.write', 'box.open', 'box.register', 'staff.read', 'staff.write',
    'roles.assign', 'audit.read', 'keys.rotate', 'tokens.issue_courier', 'orders.read_assigned',
    'orders.read_all', 'orders.assign', 'products.write', 'prices.write',
    'customers.read_masked', 'customers.read_full', 'roles.assign_operational',
    'orders.act_on_behalf', 'refunds.issue']) AS p;

-- A staff member holds only roles that exist; a role cannot be deleted while it is held (the
-- API says so first, with the count).
ALTER TABLE staff_roles DROP CONSTRAINT staff_roles_role_check;
ALTER TABLE staff_roles ADD CONSTRAINT staff_roles_role_fkey
  FOREIGN KEY (role) REFERENCES roles (name) ON UPDATE CASCADE ON DELETE RESTRICT;
CREATE INDEX staff_roles_role_idx ON staff_roles (role);

-- Who a staff member reports to: their manager may give them operational roles. Set by user
-- admins; never the member themselves (nor a loop, checked by the controller).
ALTER TABLE staff ADD COLUMN manager_id bigint REFERENCES staff (id) ON DELETE SET NULL
  CHECK (manager_id <> id);
CREATE INDEX staff_manager_idx ON staff (manager_id) WHERE manager_id IS NOT NULL;
