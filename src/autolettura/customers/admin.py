from django.contrib import admin

from autolettura.customers.models import Customer, Meter, Supply


@admin.register(Customer)
class CustomerAdmin(admin.ModelAdmin):
    list_display = ["customer_code", "name", "email", "phone"]
    search_fields = ["customer_code", "name", "email"]


class MeterInline(admin.TabularInline):
    model = Meter
    extra = 0


@admin.register(Supply)
class SupplyAdmin(admin.ModelAdmin):
    list_display = ["supply_code", "holder", "address", "usage", "condominium", "activated_on"]
    search_fields = [
        "supply_code",
        "address",
        "condominium",
        "holder__customer_code",
        "holder__name",
    ]
    list_filter = ["usage"]
    raw_id_fields = ["holder"]
    inlines = [MeterInline]
