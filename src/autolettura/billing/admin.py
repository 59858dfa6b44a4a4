"""Tariffs are reference data, edited here; bills are only looked at (and reprinted)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.contrib import admin
from django.core.exceptions import PermissionDenied, ValidationError
from django.forms.models import BaseInlineFormSet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html, format_html_join

from autolettura.billing import pdf
from autolettura.billing.models import Bill, Tariff, TariffBand
from autolettura.look_only_admin import LookOnlyAdmin
from autolettura.rules import tariff as tariff_rules

LINE_COLUMNS = ("description", "quantity", "unit price", "amount")


def _plain(value: Decimal | None) -> Decimal | None:
    """120.00 as 120, so that a message names the bound as the operator thinks of it."""
    if value is None or value != value.to_integral_value():
        return value
    return value.quantize(Decimal(1))


class TariffBandFormSet(BaseInlineFormSet):
    """Refuses bands that leave a gap or overlap (R12), with the rules' own words."""

    def clean(self) -> None:
        super().clean()  # also refuses two bands in one position (the unique constraint)
        if any(self.errors):
            return  # a band that is itself invalid is reported on its own row first
        bands = [
            form.cleaned_data
            for form in self.forms
            if form.cleaned_data and not form.cleaned_data.get("DELETE")
        ]
        tariff: Tariff = self.instance
        rules = tariff_rules.Tariff(
            fixed_quota_eur_year=tariff.fixed_quota_eur_year or Decimal(0),
            bands=tuple(
                tariff_rules.Band(band["name"], _plain(band["upper_m3_year"]), band["price_eur_m3"])
                for band in sorted(bands, key=lambda b: b["position"])
            ),
            sewerage_eur_m3=tariff.sewerage_eur_m3 or Decimal(0),
            treatment_eur_m3=tariff.treatment_eur_m3 or Decimal(0),
            vat_rate=tariff.vat_rate if tariff.vat_rate is not None else Decimal("0.10"),
            agevolata_m3_per_member=tariff.agevolata_m3_per_member or Decimal(0),
        )
        problems = tariff_rules.tariff_problems(rules)
        if problems:
            raise ValidationError(
                [
                    # In the rules' words (English, like the load-tariff command): the
                    # Italian catalogue has no entry for them yet.
                    ValidationError(
                        "This tariff cannot be billed: %(problem)s.", params={"problem": p}
                    )
                    for p in problems
                ]
            )


class TariffBandInline(admin.TabularInline):
    model = TariffBand
    formset = TariffBandFormSet
    ordering = ["position"]
    extra = 0
    fields = ["position", "name", "upper_m3_year", "price_eur_m3"]
    verbose_name = "water supply band"
    verbose_name_plural = (
        "water supply bands (the first, agevolata, is sized by the household: its upper "
        "bound is ignored; the last has none)"
    )


@admin.register(Tariff)
class TariffAdmin(admin.ModelAdmin):
    list_display = [
        "year",
        "usage",
        "fixed_quota_eur_year",
        "sewerage_eur_m3",
        "treatment_eur_m3",
        "vat_rate",
    ]
    list_filter = ["year", "usage"]
    ordering = ["-year", "usage"]
    inlines = [TariffBandInline]


@admin.register(Bill)
class BillAdmin(LookOnlyAdmin):
    """Bills are made only by bill runs and never changed: the admin shows them, with a
    link to reprint the PDF (for the counter)."""

    list_display = [
        "number_display",
        "supply",
        "customer",
        "period_start",
        "period_end",
        "billed_m3",
        "total_eur",
        "pdf_link",
    ]
    list_select_related = ["supply", "customer"]
    list_filter = ["year", "current_register_source"]
    search_fields = ["supply__supply_code", "customer__customer_code", "customer__name"]
    ordering = ["-year", "-sequence"]
    date_hierarchy = "period_end"
    exclude = ["lines"]
    readonly_fields = ["pdf_link", "lines_table"]

    @admin.display(description="number", ordering="sequence")
    def number_display(self, bill: Bill) -> str:
        return bill.number

    @admin.display(description="lines")
    def lines_table(self, bill: Bill) -> str:
        """The bill's lines in order, as a table: position, description, quantity, unit
        price, amount."""
        header = format_html_join("", "<th>{}</th>", ((c,) for c in ("position", *LINE_COLUMNS)))
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (line.position, line.description, line.quantity, line.unit_price, line.amount)
                for line in bill.line_items
            ),
        )
        return format_html(
            "<table><thead><tr>{}</tr></thead><tbody>{}</tbody></table>", header, rows
        )

    @admin.display(description="PDF")
    def pdf_link(self, bill: Bill) -> str:
        url = reverse("admin:billing_bill_pdf", args=[bill.pk])
        return format_html('<a href="{}">{}</a>', url, pdf.bill_filename(bill))

    def get_urls(self) -> list[URLPattern]:
        own = [
            path(
                "<int:bill_id>/pdf/",
                self.admin_site.admin_view(self.pdf_view),
                name="billing_bill_pdf",
            )
        ]
        return own + super().get_urls()

    def pdf_view(self, request: HttpRequest, bill_id: int, **_: Any) -> HttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        bill = get_object_or_404(Bill.objects.select_related("supply", "customer"), pk=bill_id)
        response = HttpResponse(pdf.bill_pdf(bill), content_type="application/pdf")
        response["Content-Disposition"] = f'inline; filename="{pdf.bill_filename(bill)}"'
        return response
