"""What anonymous viewers see of an event."""

from __future__ import annotations

from streams.relay.views import public_data, public_envelope


class TestPublicData:
    def test_staff_only_keys_are_dropped_at_any_depth(self) -> None:
        data = {"order_id": 1, "buyer_id": 9, "items": [{"product_id": 2, "splits": [["household:1", 7000]]}], "staff_note": "vip"}
        assert public_data(data) == {"order_id": 1, "items": [{"product_id": 2}]}

    def test_buyer_names_are_masked(self) -> None:
        assert public_data({"buyer": "张三丰"}) == {"buyer": "张**"}

    def test_masking_an_already_masked_name_changes_nothing(self) -> None:
        assert public_data({"buyer": "张**"}) == {"buyer": "张**"}

    def test_public_figures_pass_through(self) -> None:
        data = {"gmv_fen": 12990, "paid_orders": 3, "units": 7}
        assert public_data(data) == data


class TestPublicEnvelope:
    def test_only_data_changes(self) -> None:
        envelope = {"seq": 4, "type": "order.paid", "stream_id": 2, "ts": "t", "data": {"buyer_id": 1, "total_fen": 100}}
        assert public_envelope(envelope) == {**envelope, "data": {"total_fen": 100}}
