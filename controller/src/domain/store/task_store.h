// Internal orders (checking, packing, collecting, shipping), the SQL side: listing and reading
// with the assigned/all rule, assignment (with courier tokens), packing completion, grading (the
// donor's reward, the return's refund), tracking codes for labels, and manual collecting.
//
// Every function is an edge (guarded): database errors come back as a DomainError. Refusals keep
// the codes, messages and details the API has always answered with.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <pqxx/pqxx>
#include <string>

#include "context.h"
#include "outcome.h"
#include "reclothes/common/messages.h"
#include "reclothes/controller/domain/state_machines.h"

namespace reclothes::controller::domain {

// Who looks: staff see the internal orders assigned to them, or every order with
// orders.read_all. An order the viewer may not see is refused as not found.
struct TaskViewer {
  std::int64_t account_id = 0;
  bool reads_all = false;
};

struct TaskFilter {
  std::optional<TaskKind> kind;
  std::optional<TaskState> state;
  std::optional<std::int64_t> assignee_id;  // ignored unless the viewer reads all
  bool unassigned = false;
  std::optional<std::string> box_id;            // the order's box
  std::optional<std::int64_t> location_id;      // the location of the order's box
  std::optional<std::int64_t> created_from_ms;  // created at or after
  std::optional<std::int64_t> created_to_ms;    // created before
  std::optional<std::int64_t> before_id;
  std::int64_t limit = 50;
};

struct TaskPage {
  nlohmann::json items = nlohmann::json::array();  // task JSON, newest first
  std::optional<std::int64_t> next_before_id;      // set when the page is full
};

// The orders the viewer may see that match the filter.
StoreResult<TaskPage> list_tasks(pqxx::work& tx, const TaskFilter& filter, const TaskViewer& v);

// One order's JSON (the courier token only for its holder). not_found("order") if missing or not
// visible to the viewer.
StoreResult<nlohmann::json> read_task(pqxx::work& tx, std::int64_t id, const TaskViewer& v);

// An order's audit image ({state, assignee_id, token_id}) and JSON as the viewer sees it.
struct TaskView {
  nlohmann::json summary;
  nlohmann::json task;
};
StoreResult<TaskView> view_task(pqxx::work& tx, std::int64_t id, std::int64_t viewer_id);

// A command recorded in box_commands that the route publishes after commit, then the box's
// config.
struct BoxRevoke {
  std::string box_id;
  msg::Command command;
};

struct TaskAssignment {
  nlohmann::json before;  // audit images
  TaskView after;
  std::optional<BoxRevoke> revoke;  // the previous courier's token
};

// Assigns (or reassigns) an order to an active staff member with the order kind's role; a
// collecting or shipping order gets a courier token for the assignee (the previous one is
// revoked), and a shipping order's buying order is dispatched. Refusals: not_found("order"),
// conflict assignee_not_eligible {staff_id, role}, illegal_transition, a token issue failure.
// event: kAssign, or kReassign for a manager's reassignment of work someone holds (also half-done
// collecting work: the new courier's token opens the compartments still to empty).
StoreResult<TaskAssignment> assign_task(DomainContext& d, pqxx::work& tx, std::int64_t id,
                                        std::int64_t staff_id, std::int64_t assigned_by,
                                        std::int64_t now_ms, TaskEvent event = TaskEvent::kAssign);

// When no item of the checking order is left ungraded: the order is done and its donation
// rewarded or its return refunded (the refund payment's id, to attempt after commit), as the last
// grade does. Throws on database errors (call inside guarded()).
StoreResult<std::optional<std::int64_t>> finish_checking_order(DomainContext& d, pqxx::work& tx,
                                                               std::int64_t id,
                                                               std::int64_t now_ms);

// The first half of completing a packing order by its assignee: the order moves to done. The
// caller then completes the buying order (complete_packing in the buying module: a pickup
// compartment, a shipping order) in the same transaction, and reads the result with view_task.
// Refusals: not_found("order"), forbidden not_assignee, conflict not_completed_by_hand,
// illegal_transition.
struct PackingDone {
  std::int64_t buying_order_id = 0;
  nlohmann::json before;  // audit image
};
StoreResult<PackingDone> finish_packing_task(pqxx::work& tx, std::int64_t id, const TaskViewer& v,
                                             std::int64_t now_ms);

// An item's grade. Publishing a donated item needs a title: it becomes a product (available,
// unpriced). A returned product goes back on sale (publish) or is withdrawn (recycle).
struct GradeInput {
  std::string grade;  // "publish" or "recycle" (the route validates)
  std::optional<std::string> title;
  std::optional<std::string> description;
  std::optional<std::string> size;
  std::optional<std::string> condition;
};

struct GradeOutcome {
  std::optional<std::int64_t> product_id;
  // The last item of a return's checking order was graded: the refund payment the route attempts
  // after commit.
  std::optional<std::int64_t> refund_payment_id;
  nlohmann::json task;
};

// The assignee grades item `position` of a checking order. The last grade completes the order and
// rewards the donor (coins or a coupon) or refunds the return. Refusals: not_found("order"),
// forbidden not_assignee, conflict not_a_checking_order, not_found("item N"), conflict
// already_graded, invalid invalid_field /title, illegal_transition.
StoreResult<GradeOutcome> grade_item(DomainContext& d, pqxx::work& tx, std::int64_t id,
                                     int position, const GradeInput& input, const TaskViewer& v,
                                     std::int64_t now_ms);

// The tracking code printed on a collecting or shipping order's label. Refusals:
// not_found("order"), conflict no_tracking_code.
StoreResult<std::string> task_tracking_code(pqxx::work& tx, std::int64_t id, const TaskViewer& v);

// The courier token's text, for the QR code its holder shows at the box camera. The token is a
// bearer credential: only the order's assignee gets it, while the order is unfinished (as in
// read_task). Refusals: not_found("order"), forbidden not_assignee, conflict no_courier_token
// (not a collecting or shipping order, or finished).
StoreResult<std::string> courier_token_text(pqxx::work& tx, std::int64_t id, const TaskViewer& v);

// A problem the assignee of a collecting or shipping order reports at its box (a jammed door, a
// missing bag, anything else): a box fault of kind courier_report (detail: the problem and the
// note; details {order_id, problem, compartment, reported_by, note}) that the alarm worker alarms
// the location's on-call staff about like any other fault, and staff acknowledge and resolve.
struct ProblemReport {
  std::string problem;  // jammed_door, missing_bag or other (the route validates)
  std::optional<int> compartment;
  std::optional<std::string> note;
};
// The new fault's id. Refusals: not_found("order"), forbidden not_assignee, conflict
// no_box_to_report (not a collecting or shipping order), conflict order_finished (done or
// cancelled), invalid invalid_field /compartment (not one of the order's compartments).
StoreResult<std::int64_t> report_task_problem(pqxx::work& tx, std::int64_t id, const TaskViewer& v,
                                              const ProblemReport& report, std::int64_t now_ms);

struct CollectingCreated {
  std::int64_t order_id = 0;
  nlohmann::json task;
};

// A collecting order now for every filled donation/return compartment of the box that no
// collecting order covers yet. Refusals: not_found("box <id>"), conflict nothing_to_collect.
StoreResult<CollectingCreated> collect_now(pqxx::work& tx, const DomainConfig& config,
                                           const std::string& box_id, std::int64_t viewer_id,
                                           std::int64_t now_ms);

}  // namespace reclothes::controller::domain
