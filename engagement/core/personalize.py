"""The personalization values a message may use, taken from the customer's state when a timer fires.

Every value is text formatted for the message's locale (money with its currency, dates in the
customer's time zone), or None when the state does not have it: the text template then uses
its fallback, leaves the line out, or cannot be filled (`template_error`).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from engagement.core.formula import Formula, MissingValue
from engagement.core.state import CustomerState, Profile, Timer

COMMON = ("customer_name",)
VARIABLES: Mapping[str, tuple[str, ...]] = {
    "browse_abandonment": (*COMMON, "product_name"),
    "cart_idle": (*COMMON, "cart_items", "cart_count", "cart_total"),
    "logistics_delay": (
        *COMMON,
        "order_id",
        "order_total",
        "carrier",
        "tracking_number",
        "tracking_url",
        "new_eta",
        "voucher",
    ),
    "anomalous_login": (*COMMON, "login_time"),
}
# What a voucher formula may use (amounts in the order's currency).
FORMULA_VALUES = frozenset({"shipping_fee", "order_total"})

_SYMBOLS = {"TWD": "NT$", "CNY": "¥", "HKD": "HK$", "USD": "US$", "JPY": "¥", "EUR": "€", "GBP": "£", "SGD": "S$"}
_CART_NAMES_SHOWN = 2


def values_for(
    kind: str,
    state: CustomerState,
    timer: Timer,
    profile: Profile | None,
    zone: str,
    locale: str,
    voucher: Formula | None = None,
) -> dict[str, str | None]:
    chinese = locale.lower().startswith("zh")
    values: dict[str, str | None] = {"customer_name": _name(profile)}
    if kind == "browse_abandonment":
        visit = state.visits.get(timer.trigger_id) if state.visits else None
        values["product_name"] = visit.longest_name if visit is not None else None
    elif kind == "cart_idle" and state.cart is not None:
        cart = state.cart
        values["cart_items"] = _items(cart.item_names, cart.item_count, chinese)
        values["cart_count"] = str(cart.item_count)
        values["cart_total"] = money(cart.total, cart.currency) if cart.total > 0 else None
    elif kind == "logistics_delay":
        values.update(_shipment_values(state, timer, zone, chinese, voucher))
    elif kind == "anomalous_login":
        values["login_time"] = when(timer.first_due, zone, chinese, with_time=True)
    return values


def money(amount: float, currency: str | None) -> str:
    digits = f"{amount:,.0f}" if float(amount).is_integer() else f"{amount:,.2f}"
    if currency is None:
        return digits
    symbol = _SYMBOLS.get(currency)
    return f"{symbol}{digits}" if symbol else f"{currency} {digits}"


def when(t: float, zone: str, chinese: bool, with_time: bool = False) -> str:
    local = datetime.fromtimestamp(t, UTC).astimezone(ZoneInfo(zone))
    day = f"{local.month}月{local.day}日" if chinese else f"{local.day} {local:%b}"
    return f"{day} {local:%H:%M}" if with_time else day


def _name(profile: Profile | None) -> str | None:
    if profile is None or profile.name is None:
        return None
    name = profile.name.strip()
    return name if name and name.lower() not in ("none", "null", "undefined") else None


def _items(names: tuple[str, ...], count: int, chinese: bool) -> str | None:
    shown = [n for n in names if n][:_CART_NAMES_SHOWN]
    if not shown:
        return None
    rest = count - len(shown)
    if chinese:
        text = "、".join(shown)
        return f"{text} 等 {count} 件商品" if rest > 0 else text
    text = ", ".join(shown)
    return f"{text} ({count} items)" if rest > 0 else text


def _shipment_values(
    state: CustomerState, timer: Timer, zone: str, chinese: bool, voucher: Formula | None
) -> dict[str, str | None]:
    shipment = state.shipments.get(timer.subject) if state.shipments else None
    if shipment is None:
        return {}
    order = state.last_order if state.last_order and state.last_order.order_id == shipment.order_id else None
    values: dict[str, str | None] = {
        "order_id": shipment.order_id,
        "carrier": shipment.carrier,
        "tracking_number": shipment.tracking_number,
        "tracking_url": shipment.tracking_url,
        "new_eta": when(shipment.new_eta, zone, chinese) if shipment.new_eta is not None else None,
        "order_total": money(order.total, order.currency) if order else None,
        "voucher": None,
    }
    if voucher is not None and order is not None:
        try:
            amount = voucher.evaluate({"shipping_fee": order.shipping_fee or 0.0, "order_total": order.total})
        except MissingValue:
            amount = 0.0
        values["voucher"] = money(amount, order.currency) if amount > 0 else None
    return values
