from devstack.localhost.routes import RouteTable, compile_route, find_route


def routes(*templates):
    return [compile_route(template, methods, template, "api") for template, methods in templates]


def test_parameters_are_decoded_per_segment():
    table = routes(("mailboxes/{mailboxId}/messages/{messageId}", ["GET"]))
    _route, params = find_route(table, "/api/mailboxes/%2B15551234567/messages/m%2F1", "GET")
    assert params == {"mailboxId": "+15551234567", "messageId": "m/1"}


def test_literal_segments_win_over_parameters():
    table = routes(("health/{name}", ["GET"]), ("health/ready", ["GET"]), ("{*path}", None))
    assert find_route(table, "/api/health/ready", "GET")[0].template == "health/ready"
    assert find_route(table, "/api/health/live", "GET")[0].template == "health/{name}"
    assert find_route(table, "/api/anything/else", "GET")[0].template == "{*path}"


def test_methods_filter_routes():
    table = routes(("things/{id}", ["GET"]), ("things/{id}", ["DELETE"]))
    assert find_route(table, "/api/things/1", "DELETE")[0].methods == frozenset({"DELETE"})
    assert find_route(table, "/api/things/1", "POST") is None


def test_optional_and_constrained_parameters():
    table = routes(("items/{id:int}/{rest?}", ["GET"]))
    assert find_route(table, "/api/items/42", "GET")[1] == {"id": "42"}
    assert find_route(table, "/api/items/42/x", "GET")[1] == {"id": "42", "rest": "x"}
    assert find_route(table, "/api/items/abc", "GET") is None


def test_prefix_is_required_and_trailing_slash_allowed():
    table = routes(("health", ["GET"]))
    assert find_route(table, "/health", "GET") is None
    assert find_route(table, "/api/health/", "GET") is not None


def test_one_table_serves_each_method_and_routes_added_later():
    table = RouteTable(routes(("things/{id}", ["GET"]), ("{*path}", None)))
    assert table.find("/api/things/1", "get")[0].template == "things/{id}"
    assert table.find("/api/things/1", "DELETE")[0].template == "{*path}"
    table.append(compile_route("things/{id}", ["DELETE"], "things/{id}", "api"))  # as the host adds admin routes
    assert table.find("/api/things/1", "DELETE")[0].template == "things/{id}"
