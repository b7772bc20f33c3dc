"""The client library against a real server: typed answers, typed errors, safe retries."""

from __future__ import annotations

import pytest

from obs_support import schemas
from obs_support.client import errors
from obs_support.client.api import ObsClient
from tests.flaky_proxy import FlakyProxy
from tests.support import Api, LiveServer, Tenant


def new_incident() -> schemas.IncidentCreate:
    return schemas.IncidentCreate(type="repair", priority="high", message="Dome stuck at 40°")


def port_of(server: LiveServer) -> int:
    return int(server.url.rsplit(":", 1)[1])


def test_lost_answers_do_not_file_twice(api: Api, server: LiveServer, tenant: Tenant) -> None:
    with (
        FlakyProxy(port_of(server), lose=2) as proxy,
        ObsClient(proxy.url, tenant.client.token, backoff=0.01) as client,
    ):
        created = client.create_incident(new_incident())
        assert proxy.lost == 2
        assert created.ref == f"{tenant.slug}-1"
        comment = client.comment(created.ref, schemas.CommentCreate(body="más datos"))
        assert comment.body == "más datos"
    detail = api.as_(tenant.client).ok("GET", f"/incidents/{created.ref}")
    assert api.as_(tenant.client).ok("GET", "/incidents/counts")["total"] == 1
    assert [e["kind"] for e in detail["events"]] == ["created", "comment", "comment"]


def test_without_a_key_the_same_retry_would_duplicate(
    api: Api, server: LiveServer, tenant: Tenant
) -> None:
    """The control for the test above: it is the key, not luck, that prevents duplicates."""
    body = new_incident().model_dump(mode="json")
    with (
        FlakyProxy(port_of(server), lose=1) as proxy,
        ObsClient(proxy.url, tenant.client.token, backoff=0.01) as client,
    ):
        client.request("POST", "/incidents", json=body, retry="safe")
    assert api.as_(tenant.client).ok("GET", "/incidents/counts")["total"] == 2


def test_unkeyed_writes_are_not_retried(server: LiveServer, tenant: Tenant) -> None:
    with (
        FlakyProxy(port_of(server), lose=1) as proxy,
        ObsClient(proxy.url, tenant.client.token, backoff=0.01) as client,
        pytest.raises(errors.ConnectionFailed, match="cannot reach"),
    ):
        client.request("POST", "/tokens", json={"name": "x"})


def test_errors_are_typed_with_the_server_message(server: LiveServer, tenant: Tenant) -> None:
    with ObsClient(server.url, tenant.client.token) as client:
        with pytest.raises(errors.NotFound) as missing:
            client.incident("999")
        assert missing.value.code == "not_found"
        ref = client.create_incident(new_incident()).ref
        with pytest.raises(errors.Forbidden):
            client.change_status(ref, schemas.StatusChange(status="done"))
        with pytest.raises(errors.InvalidInput) as bad:
            client.request("POST", "/incidents", json={"type": "repair"})
        assert bad.value.field is not None
        cancelled = client.change_status(ref, schemas.StatusChange(status="cancelada", reason="ok"))
        assert cancelled.status == "cancelled"
        with pytest.raises(errors.Forbidden):
            client.change_status(ref, schemas.StatusChange(status="open", reason="again"))
    with ObsClient(server.url, "obs_wrong") as anonymous, pytest.raises(errors.Unauthorized):
        anonymous.me()


def test_iterates_every_page(server: LiveServer, api: Api, tenant: Tenant) -> None:
    for _ in range(7):
        tenant.incident(api)
    with ObsClient(server.url, tenant.staff.token) as client:
        refs = [i.ref for i in client.iter_incidents(limit=3)]
        assert len(refs) == len(set(refs)) == 7
        assert client.counts().total == 7


def test_unreachable_server_is_one_clear_error() -> None:
    client = ObsClient("http://127.0.0.1:9", retries=1, backoff=0.01)
    with client, pytest.raises(errors.ConnectionFailed) as failed:
        client.me()
    assert "\n" not in str(failed.value)
    assert str(failed.value).startswith("cannot reach http://127.0.0.1:9")
