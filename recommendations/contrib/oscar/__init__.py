"""The recommendations app in a django-oscar shop (needs ``django-oscar`` installed).

Add ``"recommendations.contrib.oscar"`` to ``INSTALLED_APPS`` before
``"recommendations"`` (so its item template wins) and use the preset of
:mod:`recommendations.contrib.oscar.settings`.
"""
