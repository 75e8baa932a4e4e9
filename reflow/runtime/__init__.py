"""reflow.runtime"""
