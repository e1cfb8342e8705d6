"""The sandbox org's SOAP API (partner WSDL), for the one call an admin's script makes
there that REST has no form of: convertLead ("convertLead()", SOAP API Developer Guide).

The request carries the session in its SessionHeader and one or more leadConverts
(leadId, convertedStatus, doNotCreateOpportunity, opportunityName, accountId); the
answer holds a LeadConvertResult per lead: accountId, contactId, leadId, opportunityId
(nil when none was made), success, and errors when it failed. A fault (an invalid
session) is HTTP 500 with a soapenv:Fault."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from typing import TYPE_CHECKING, Any

from mqlsync.connector.sandbox.server import Request, Response

if TYPE_CHECKING:
    from mqlsync.connector.crms.salesforce.sandbox.org import SalesforceSandbox

ENV = "http://schemas.xmlsoap.org/soap/envelope/"
PARTNER = "urn:partner.soap.sforce.com"
#: Lead Status values that are "Converted" ones (the default LeadStatus set)
CONVERTED_STATUSES = ("Closed - Converted",)


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _children(node: ET.Element) -> dict[str, str]:
    return {_local(child.tag): (child.text or "").strip() for child in node}


def _envelope(body: str) -> str:
    return (f'<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="{ENV}" xmlns="{PARTNER}" '
            f'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body>{body}</soapenv:Body>'
            "</soapenv:Envelope>")


def _fault(code: str, message: str) -> Response:
    body = (f"<soapenv:Fault><faultcode>sf:{code}</faultcode><faultstring>{code}: {message}</faultstring>"
            "</soapenv:Fault>")
    return Response(500, raw=_envelope(body).encode(), headers={"Content-Type": "text/xml; charset=utf-8"})


class Soap:
    def __init__(self, org: SalesforceSandbox) -> None:
        self.org = org

    def routes(self) -> list[tuple[str, re.Pattern, Any]]:
        return [("POST", re.compile(r"/services/Soap/u/(\d+\.\d)/?"), self.call)]

    def call(self, request: Request, m: re.Match) -> Response:
        raw = request.body if isinstance(request.body, (bytes, str)) else b""
        try:
            root = ET.fromstring(raw)
        except ET.ParseError:
            return _fault("INVALID_XML", "the request is not a SOAP envelope")
        session = next((el.text for el in root.iter() if _local(el.tag) == "sessionId"), None)
        if session != self.org.session_id:
            return _fault("INVALID_SESSION_ID", "Invalid Session ID found in SessionHeader: Illegal Session")
        convert = next((el for el in root.iter() if _local(el.tag) == "convertLead"), None)
        if convert is None:
            return _fault("UNKNOWN_EXCEPTION", "the sandbox's SOAP API serves convertLead only")
        results = [self._convert(_children(item)) for item in convert if _local(item.tag) == "leadConverts"]
        return Response(200, raw=_envelope(f"<convertLeadResponse>{''.join(results)}</convertLeadResponse>").encode(),
                        headers={"Content-Type": "text/xml; charset=utf-8"})

    def _convert(self, item: dict[str, str]) -> str:
        lead_id = item.get("leadId", "")
        with self.org.lock:
            lead = self.org.get("Lead", lead_id)
            if lead is None or lead["IsDeleted"]:
                return _failed(lead_id, "INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id")
            if lead["IsConverted"]:
                return _failed(lead_id, "CANNOT_UPDATE_CONVERTED_LEAD", "cannot reference converted lead")
            if item.get("convertedStatus") not in CONVERTED_STATUSES:
                return _failed(lead_id, "INVALID_STATUS", f"invalid convertedStatus: {item.get('convertedStatus')}")
            made = self.org.convert(lead_id, opportunity=None if item.get("doNotCreateOpportunity") == "true"
                                         else item.get("opportunityName") or f"{lead['Company']}-")
        opportunity = (f"<opportunityId>{made['opportunityId']}</opportunityId>" if made["opportunityId"]
                       else '<opportunityId xsi:nil="true"/>')
        return (f"<result><accountId>{made['accountId']}</accountId><contactId>{made['contactId']}</contactId>"
                f"<leadId>{lead_id}</leadId>{opportunity}<success>true</success></result>")


def _failed(lead_id: str, code: str, message: str) -> str:
    return (f'<result><accountId xsi:nil="true"/><contactId xsi:nil="true"/><errors><message>{message}</message>'
            f"<statusCode>{code}</statusCode></errors><leadId>{lead_id}</leadId>"
            '<opportunityId xsi:nil="true"/><success>false</success></result>')
