from tests.support import Api, Tenant


def test_client_files_and_reads_an_incident(api: Api, tenant: Tenant) -> None:
    created = tenant.incident(
        api, type="Reparación", priority="alta", message="La montura no responde\nmás"
    )
    assert created["ref"] == f"{tenant.slug}-1"
    assert created["summary"] == "La montura no responde"
    got = api.as_(tenant.client).ok("GET", f"/incidents/{created['ref']}")
    assert [e["kind"] for e in got["events"]] == ["created", "comment"]
