"""The Korean parcel carriers a mall may ship with, and each one's public tracking page.

The tracking links are the carriers' own lookup pages as they were in December 2026, with the tracking number
in the query; a carrier that moves its page needs only its line here changed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args
from urllib.parse import quote

CarrierCode = Literal["cj", "cvsnet", "epost", "hanjin", "kdexp", "logen", "lotte"]
"""The codes a mall ships with, as the partner API's schema lists them (checked against :data:`CARRIERS` below)."""


@dataclass(frozen=True, kw_only=True)
class Carrier:
    code: str
    name: str
    tracking_url: str
    """With ``{number}`` where the tracking number goes."""
    digits: tuple[int, ...]
    """How many digits its tracking numbers have."""

    def link(self, tracking_number: str) -> str:
        return self.tracking_url.format(number=quote(tracking_number, safe=""))


CARRIERS: dict[str, Carrier] = {
    carrier.code: carrier
    for carrier in (
        Carrier(code="cj", name="CJ대한통운", digits=(10, 12),
                tracking_url="https://trace.cjlogistics.com/next/tracking.html?wblNo={number}"),
        Carrier(code="hanjin", name="한진택배", digits=(10, 12),
                tracking_url="https://www.hanjin.com/kor/CMS/DeliveryMgr/WaybillResult.do?mCode=MN038&wblnum={number}"),
        Carrier(code="lotte", name="롯데택배", digits=(12, 13),
                tracking_url="https://www.lotteglogis.com/home/reservation/tracking/linkView?InvNo={number}"),
        Carrier(code="epost", name="우체국택배", digits=(13,),
                tracking_url="https://service.epost.go.kr/trace.RetrieveDomRigiTraceList.comm?sid1={number}"),
        Carrier(code="logen", name="로젠택배", digits=(11,),
                tracking_url="https://www.ilogen.com/web/personal/trace/{number}"),
        Carrier(code="kdexp", name="경동택배", digits=(9, 10, 11, 12, 13, 14, 15, 16),
                tracking_url="https://kdexp.com/service/delivery/etc/delivery.do?barcode={number}"),
        Carrier(code="cvsnet", name="GS Postbox 택배", digits=(10, 11, 12, 13),
                tracking_url="https://www.cvsnet.co.kr/invoice/tracking.do?invoice_no={number}"),
    )
}  # fmt: skip
"""By code; the names are what shoppers read in their messages."""


def carrier_problem(code: str, tracking_number: str) -> str | None:
    """Why a carrier and tracking number cannot be shipped with; None when they can."""
    carrier = CARRIERS.get(code)
    if carrier is None:
        return f"carrier must be one of {', '.join(sorted(CARRIERS))}"
    digits = tracking_number.replace("-", "")
    if not digits.isdigit() or len(digits) not in carrier.digits:
        lengths = " or ".join(str(n) for n in carrier.digits)
        return f"a {carrier.name} tracking number has {lengths} digits"
    return None


if set(get_args(CarrierCode)) != set(CARRIERS):  # pragma: no cover - a carrier added to one list and not the other
    msg = "orders.carriers: CarrierCode and CARRIERS must list the same carriers"
    raise RuntimeError(msg)
