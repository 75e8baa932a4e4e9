"""reflow.api"""
