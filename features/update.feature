Feature: Update a module
  A PUT replaces the content or the name; a bad module never replaces a good one.

  Background:
    Given I have uploaded the "add" module as "calc"

  Scenario: Replace the content
    When I replace "calc" with the "single-export" module
    Then the answer is 200
    And the module is at version 2
    When I call "calc" with [4]
    Then the results are [8]

  Scenario: Rename without new content
    When I rename "calc" to "adder"
    Then the answer is 200
    And the module is named "adder"

  Scenario: A bad replacement leaves the old module running
    When I replace "calc" with the bytes "garbage"
    Then the answer is 400
    When I call "add" on "calc" with [2, 3]
    Then the results are [5]
    When I fetch "calc"
    Then the module is at version 1
