Feature: Versions and rollback
  Every change to a module makes a new version. Old versions stay readable, and any of them can be
  made current again. A client that read version N can ask for its change to apply only if the
  module is still at version N, so two people editing at once never overwrite each other unseen.

  Background:
    Given I have uploaded the "add" module as "calc"
    And I have replaced "calc" with the "single-export" module

  Scenario: Every change is kept in the history, newest first
    When I rename "calc" to "doubler"
    And I list the versions of "calc"
    Then the answer is 200
    And the history lists versions 3, 2, 1

  Scenario: An old version can still be read and downloaded
    When I fetch version 1 of "calc"
    Then the answer is 200
    And the module is at version 1
    And the module exports "add" taking "i32, i32" and returning "i32"
    When I download version 1 of "calc"
    Then the content is byte for byte the "add" module

  Scenario: Roll back to an earlier version
    When I roll "calc" back to version 1
    Then the answer is 200
    And the module is at version 3
    And the answer carries the ETag "3"
    When I call "add" on "calc" with [2, 3]
    Then the results are [5]
    When I list the versions of "calc"
    Then the history lists versions 3, 2, 1

  Scenario: A version that never existed
    When I roll "calc" back to version 9
    Then the answer is 404
    And the error code is "VERSION_NOT_FOUND"

  Scenario: A change based on an outdated version is refused
    When I replace "calc" with the "add-i64" module, expecting version 1
    Then the answer is 409
    And the error code is "VERSION_CONFLICT"
    And the error message mentions "at version 2"
    When I replace "calc" with the "add-i64" module, expecting version 2
    Then the answer is 200
    And the answer carries the ETag "3"

  Scenario: Two clients change the same version at once
    When two clients replace "calc" at the same time, both expecting version 2
    Then one of them gets 200 and the other 409
    When I fetch "calc"
    Then the module is at version 3

  Scenario: Deleting a module deletes its history
    When I delete "calc", expecting version 1
    Then the answer is 409
    When I delete "calc", expecting version 2
    Then the answer is 204
    When I list the versions of "calc"
    Then the answer is 404
    And the error code is "MODULE_NOT_FOUND"
