"""Interface language (Vietnamese by default, English on request), dates and money the Vietnamese way.

Officers read dates in Asia/Ho_Chi_Minh and amounts as "1.234.567 ₫"; the stored
values stay UTC and integers, so only this module decides how they look.
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from schemas import event_types

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
LANGS = ("vi", "en")
DEFAULT_LANG = "vi"


def format_vnd(amount: int | float | None) -> str:
    """``1234567`` → ``"1.234.567 ₫"`` (dot thousands separator, đồng sign after a space)."""
    if amount is None:
        return "—"
    value = round(amount)
    sign = "-" if value < 0 else ""
    return f"{sign}{abs(value):,}".replace(",", ".") + " ₫"


def format_int(n: int | None) -> str:
    return "—" if n is None else f"{n:,}".replace(",", ".")


def local_time(value: datetime | None, fmt: str = "%d/%m/%Y %H:%M") -> str:
    """A UTC timestamp shown in Asia/Ho_Chi_Minh (dd/mm/yyyy hh:mm)."""
    if value is None:
        return "—"
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(TZ).strftime(fmt)


def local_date(value: datetime | None) -> str:
    return local_time(value, "%d/%m/%Y")


# Every interface string, keyed by a short id; a missing key shows the key itself (visible in review).
MESSAGES: dict[str, dict[str, str]] = {
    "app_title": {"vi": "Ban Chỉ đạo 389 — Bảng điều hành", "en": "Steering Committee 389 — Dashboard"},
    "overview": {"vi": "Tổng quan", "en": "Overview"},
    "feed": {"vi": "Cảnh báo trực tiếp", "en": "Live alerts"},
    "cases": {"vi": "Vụ việc", "en": "Cases"},
    "reports": {"vi": "Báo cáo", "en": "Reports"},
    "logout": {"vi": "Đăng xuất", "en": "Log out"},
    "login": {"vi": "Đăng nhập", "en": "Log in"},
    "username": {"vi": "Tên đăng nhập", "en": "User name"},
    "password": {"vi": "Mật khẩu", "en": "Password"},
    "login_failed": {"vi": "Sai tên đăng nhập hoặc mật khẩu.", "en": "Wrong user name or password."},
    "login_throttled": {
        "vi": "Quá nhiều lần đăng nhập sai cho tài khoản hoặc địa chỉ này. Vui lòng thử lại sau {n} phút.",
        "en": "Too many failed logins for this user or address. Try again in {n} minutes.",
    },
    "login_csrf": {
        "vi": "Biểu mẫu đăng nhập đã hết hạn hoặc không đến từ trang này. Vui lòng đăng nhập lại.",
        "en": "The login form expired or did not come from this site. Please log in again.",
    },
    "session_expired": {
        "vi": "Phiên làm việc đã hết hạn, vui lòng đăng nhập lại.",
        "en": "Your session has expired; please log in again.",
    },
    "open_cases_by_severity": {"vi": "Vụ việc đang mở theo mức độ", "en": "Open cases by severity"},
    "new_alerts_24h": {"vi": "Cảnh báo mới (24 giờ)", "en": "New alerts (24 h)"},
    "blocks_pending": {"vi": "Yêu cầu phong tỏa chờ xử lý", "en": "Payment blocks pending"},
    "blocks_overdue": {"vi": "Quá hạn xử lý", "en": "Overdue"},
    "takedowns": {"vi": "Yêu cầu gỡ bỏ trên sàn TMĐT", "en": "Platform takedown requests"},
    "takedowns_open": {"vi": "Yêu cầu gỡ bỏ chờ sàn trả lời", "en": "Takedowns awaiting the platform"},
    "takedown_overdue": {"vi": "Quá hạn trả lời", "en": "Overdue"},
    "answered_late": {"vi": "Trả lời muộn", "en": "Answered late"},
    "waiting_for_platform": {"vi": "Chờ sàn trả lời", "en": "Waiting for the platform"},
    "request_takedown": {"vi": "Yêu cầu sàn gỡ bỏ", "en": "Request takedown"},
    "shops_in_evidence": {"vi": "Gian hàng trong chứng cứ", "en": "Shops in the evidence"},
    "listing_urls": {"vi": "Đường dẫn tin đăng (mỗi dòng một)", "en": "Listing URLs (one per line)"},
    "legal_document": {"vi": "Căn cứ pháp lý", "en": "Legal basis"},
    "article": {"vi": "Điều", "en": "Article"},
    "decision_number": {"vi": "Số quyết định", "en": "Decision number"},
    "reason": {"vi": "Lý do", "en": "Reason"},
    "platform": {"vi": "Sàn", "en": "Platform"},
    "platform_answer": {"vi": "Trả lời của sàn", "en": "Platform's answer"},
    "deadline": {"vi": "Hạn trả lời", "en": "Deadline"},
    "takedown_deadline_note": {"vi": "Hạn trả lời: {h} giờ", "en": "The platform has {h} hours to answer"},
    "SHOP": {"vi": "Gian hàng", "en": "Shop"},
    "LISTING": {"vi": "Tin đăng", "en": "Listing"},
    "REMOVED": {"vi": "Đã gỡ bỏ", "en": "Removed"},
    "PARTLY_REMOVED": {"vi": "Gỡ bỏ một phần", "en": "Partly removed"},
    "REFUSED": {"vi": "Từ chối", "en": "Refused"},
    "NEEDS_INFO": {"vi": "Cần bổ sung thông tin", "en": "Needs more information"},
    "NOT_REMOVED": {"vi": "Chưa gỡ", "en": "Not removed"},
    "NOT_FOUND": {"vi": "Không tìm thấy", "en": "Not found"},
    "events_per_agency_week": {"vi": "Sự kiện theo cơ quan (7 ngày)", "en": "Events per agency (7 days)"},
    "alerts_per_week": {"vi": "Cảnh báo theo tuần và mức độ", "en": "Alerts per week by severity"},
    "cases_per_commune": {"vi": "Vụ việc theo xã/phường", "en": "Cases per commune/ward"},
    "open_cases": {"vi": "Vụ việc đang mở", "en": "Open cases"},
    "events_total": {"vi": "Tổng số sự kiện", "en": "Events received"},
    "severity": {"vi": "Mức độ", "en": "Severity"},
    "status": {"vi": "Trạng thái", "en": "Status"},
    "agency": {"vi": "Cơ quan", "en": "Agency"},
    "commune": {"vi": "Xã/phường", "en": "Commune/ward"},
    "rule": {"vi": "Quy tắc", "en": "Rule"},
    "search": {
        "vi": "Tìm theo định danh người bán (SĐT, MST, tài khoản, gian hàng…)",
        "en": "Search any seller identifier (phone, tax code, account, shop…)",
    },
    "filter": {"vi": "Lọc", "en": "Filter"},
    "all": {"vi": "Tất cả", "en": "All"},
    "export_csv": {"vi": "Xuất CSV", "en": "Export CSV"},
    "case_id": {"vi": "Mã vụ việc", "en": "Case"},
    "seller": {"vi": "Người bán", "en": "Seller"},
    "opened_at": {"vi": "Mở lúc", "en": "Opened"},
    "updated_at": {"vi": "Cập nhật", "en": "Updated"},
    "version": {"vi": "Phiên bản", "en": "Version"},
    "lead_agency": {"vi": "Cơ quan chủ trì", "en": "Lead agency"},
    "recipients": {"vi": "Cơ quan nhận", "en": "Routed to"},
    "identifiers": {"vi": "Định danh người bán", "en": "Seller identifiers"},
    "timeline": {"vi": "Dòng thời gian chứng cứ liên ngành", "en": "Cross-agency evidence timeline"},
    "rules_fired": {"vi": "Quy tắc đã kích hoạt", "en": "Rules fired"},
    "payment_blocks": {"vi": "Phong tỏa tài khoản", "en": "Payment blocks"},
    "history": {"vi": "Lịch sử vụ việc", "en": "Case history"},
    "actions": {"vi": "Thao tác", "en": "Actions"},
    "assign_lead": {"vi": "Giao cơ quan chủ trì", "en": "Assign lead agency"},
    "add_note": {"vi": "Thêm ghi chú", "en": "Add note"},
    "note": {"vi": "Ghi chú", "en": "Note"},
    "close_case": {"vi": "Đóng vụ việc", "en": "Close case"},
    "reopen_case": {"vi": "Mở lại vụ việc", "en": "Reopen case"},
    "submit": {"vi": "Gửi", "en": "Submit"},
    "no_cases": {"vi": "Không có vụ việc nào.", "en": "No cases."},
    "no_alerts_yet": {"vi": "Chưa có cảnh báo.", "en": "No alerts yet."},
    "items_withheld": {
        "vi": "Chứng cứ không được chia sẻ với cơ quan của bạn: {n} mục",
        "en": "Evidence items withheld from your agency: {n}",
    },
    "forbidden": {"vi": "Không có quyền truy cập", "en": "Access denied"},
    "report_forbidden_text": {
        "vi": "Cơ quan của bạn chỉ lập báo cáo của chính mình; báo cáo tổng hợp do Sở Công Thương lập.",
        "en": "Your agency prepares only its own report; the compiled report is prepared by Sở Công Thương.",
    },
    "report_period_rule": {
        "vi": "Kỳ báo cáo năm theo Nghị định 09/2019/NĐ-CP: từ ngày 15/12 năm trước đến ngày 14/12.",
        "en": "Annual period per Decree 09/2019/NĐ-CP: from 15 December of the previous year to 14 December.",
    },
    "report_kind": {"vi": "Loại báo cáo", "en": "Report"},
    "report_kind_agency": {
        "vi": "Báo cáo của cơ quan (gửi Sở Công Thương)",
        "en": "An agency's report (to Sở Công Thương)",
    },
    "report_kind_province": {
        "vi": "Báo cáo tổng hợp của tỉnh (Sở Công Thương gửi UBND tỉnh)",
        "en": "The compiled provincial report (Sở Công Thương to UBND tỉnh)",
    },
    "report_kind_hint": {
        "vi": "Cơ quan: chỉ dùng cho báo cáo của cơ quan. Hoặc chọn khoảng thời gian khác:",
        "en": "Agency: for an agency's report only. Or choose another period:",
    },
    "report_agency": {"vi": "Cơ quan", "en": "Agency"},
    "report_year": {"vi": "Năm báo cáo", "en": "Reporting year"},
    "export_docx": {"vi": "Tải Word (.docx)", "en": "Download Word (.docx)"},
    "export_xlsx": {"vi": "Tải Excel (.xlsx)", "en": "Download Excel (.xlsx)"},
    "report_edit": {"vi": "Sửa nội dung báo cáo", "en": "Edit the report's text"},
    "report_saved": {"vi": "Đã lưu", "en": "Saved"},
    "report_save": {"vi": "Lưu", "en": "Save"},
    "report_letterhead": {"vi": "Thể thức văn bản", "en": "Letterhead and signature"},
    "report_narrative": {"vi": "Đánh giá, kiến nghị", "en": "Assessment and recommendations"},
    "forbidden_text": {
        "vi": "Vụ việc này không được chuyển cho cơ quan của bạn.",
        "en": "This case is not routed to your agency.",
    },
    "not_found": {"vi": "Không tìm thấy", "en": "Not found"},
    "page": {"vi": "Trang", "en": "Page"},
    "prev": {"vi": "Trước", "en": "Previous"},
    "next": {"vi": "Sau", "en": "Next"},
    "total": {"vi": "Tổng", "en": "Total"},
    "yearly_report": {"vi": "Báo cáo năm (trước 10/12)", "en": "Yearly report (due before 10 December)"},
    "period_from": {"vi": "Từ ngày", "en": "From"},
    "period_to": {"vi": "Đến ngày", "en": "To"},
    "view_html": {"vi": "Xem bản in", "en": "Printable page"},
    "request": {"vi": "Yêu cầu", "en": "Request"},
    "requested_at": {"vi": "Ngày yêu cầu", "en": "Requested"},
    "bank_status": {"vi": "Trạng thái ngân hàng", "en": "Bank status"},
    "targets": {"vi": "Tài khoản", "en": "Targets"},
    "by": {"vi": "bởi", "en": "by"},
    "new_version": {"vi": "Phiên bản mới của cảnh báo", "en": "New alert version"},
    "evidence": {"vi": "chứng cứ", "en": "evidence"},
    "action_sent": {"vi": "Đã gửi thao tác; đã cập nhật lịch sử.", "en": "Action sent; history updated."},
    "action_pending": {
        "vi": "Đã gửi thao tác; lịch sử sẽ cập nhật trong giây lát.",
        "en": "Action sent; the history will update shortly.",
    },
    "language": {"vi": "English", "en": "Tiếng Việt"},
    "live": {"vi": "trực tiếp", "en": "live"},
    "events": {"vi": "sự kiện", "en": "events"},
    "sort": {"vi": "Sắp xếp", "en": "Sort"},
    "none": {"vi": "Chưa có", "en": "None"},
    "legacy_district": {"vi": "huyện (cũ)", "en": "legacy district"},
    "OPEN": {"vi": "Đang mở", "en": "Open"},
    "CLOSED": {"vi": "Đã đóng", "en": "Closed"},
    "MERGED": {"vi": "Đã gộp", "en": "Merged"},
    "LOW": {"vi": "Thấp", "en": "Low"},
    "MEDIUM": {"vi": "Trung bình", "en": "Medium"},
    "HIGH": {"vi": "Cao", "en": "High"},
    "CRITICAL": {"vi": "Nghiêm trọng", "en": "Critical"},
    "ASSIGN_LEAD": {"vi": "Giao chủ trì", "en": "Lead assigned"},
    "ADD_NOTE": {"vi": "Ghi chú", "en": "Note"},
    "CLOSE": {"vi": "Đóng vụ việc", "en": "Closed"},
    "REOPEN": {"vi": "Mở lại", "en": "Reopened"},
    "OTHER": {"vi": "Khác", "en": "Other"},
    # the agency event types' labels come from their descriptors (schemas/event_types.py), below
    "RECEIVED": {"vi": "Đã tiếp nhận", "en": "Received"},
    "EXECUTED": {"vi": "Đã phong tỏa", "en": "Executed"},
    "REJECTED": {"vi": "Từ chối", "en": "Rejected"},
    "LIFTED": {"vi": "Đã gỡ phong tỏa", "en": "Lifted"},
    "EXPIRED": {"vi": "Hết hiệu lực", "en": "Expired"},
    "PENDING": {"vi": "Chờ xử lý", "en": "Pending"},
    "signature_ok": {"vi": "chữ ký NHNN hợp lệ", "en": "State Bank signature valid"},
    "signature_bad": {"vi": "chữ ký KHÔNG hợp lệ — không áp dụng", "en": "signature INVALID — not applied"},
    "signature_unchecked": {"vi": "chưa xác minh chữ ký", "en": "signature not checked"},
    # the live dashboard: blocks page, response times, link graph
    "blocks_page_intro": {
        "vi": "Mọi yêu cầu phong tỏa bạn được xem và từng trả lời của ngân hàng, mới nhất trước.",
        "en": "Every payment-block request you may see and each answer of the bank, newest first.",
    },
    "bank_answers": {"vi": "Trả lời của ngân hàng", "en": "The bank's answers"},
    "time_to_decide": {"vi": "Thời gian xử lý", "en": "Time to decide"},
    "hours": {"vi": "giờ", "en": "h"},
    "officer": {"vi": "Cán bộ", "en": "Officer"},
    "responses": {"vi": "Thời gian phản hồi", "en": "Response times"},
    "responder": {"vi": "Cơ quan, đơn vị", "en": "Who answers"},
    "asked": {"vi": "Được giao / yêu cầu", "en": "Asked"},
    "answered": {"vi": "Đã phản hồi", "en": "Answered"},
    "median_hours": {"vi": "Trung vị (giờ)", "en": "Median (hours)"},
    "overdue_now": {"vi": "Quá hạn", "en": "Overdue"},
    "kind_agency": {"vi": "xử lý vụ việc được chuyển", "en": "cases routed to it"},
    "kind_bank": {"vi": "yêu cầu phong tỏa", "en": "payment-block requests"},
    "kind_platform": {"vi": "yêu cầu gỡ bỏ", "en": "takedown requests"},
    "responses_note": {
        "vi": "Cơ quan: từ khi vụ việc được chuyển đến thao tác đầu tiên (ghi chú, giao chủ trì, đóng); "
        "ngân hàng: từ yêu cầu đến khi phong tỏa hoặc từ chối; sàn: từ yêu cầu đến khi trả lời.",
        "en": "Agency: from the case being routed to its first action (note, lead, closure); "
        "bank: from the request to execution or rejection; platform: from the request to its answer.",
    },
    "link_graph": {"vi": "Liên kết định danh người bán", "en": "Seller identifier links"},
    "link_graph_note": {
        "vi": "Mỗi đường nối: chứng cứ của một cơ quan đã nêu định danh đó (chỉ chứng cứ bạn được xem).",
        "en": "Each line: an agency's evidence named that identifier (only evidence you may see).",
    },
    "evidence_arrived": {"vi": "Chứng cứ", "en": "Evidence"},
    "BLOCK": {"vi": "Phong tỏa", "en": "Block"},
    "LIFT": {"vi": "Gỡ phong tỏa", "en": "Lift"},
    "BANK_ACCOUNT": {"vi": "Tài khoản ngân hàng", "en": "Bank account"},
    "E_WALLET": {"vi": "Ví điện tử", "en": "E-wallet"},
    "UNKNOWN_BANK": {"vi": "Không rõ ngân hàng", "en": "Unknown bank"},
}


def translate(key: str, lang: str) -> str:
    entry = MESSAGES.get(key)
    if entry is None:
        etype = event_types.BY_KEY.get(key)
        if etype is None or not etype.agency_event:
            return key
        entry = dict(etype.labels)
    return entry.get(lang) or entry.get(DEFAULT_LANG) or key


def pick_lang(query_lang: str | None, cookie_lang: str | None) -> str:
    for candidate in (query_lang, cookie_lang):
        if candidate in LANGS:
            return str(candidate)
    return DEFAULT_LANG
