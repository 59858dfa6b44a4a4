from django.apps import AppConfig


class PhotosConfig(AppConfig):
    name = "autolettura.photos"
    label = "photos"
    verbose_name = "Letture da foto"
