package analyze

// BatchDetectors is every detector the scheduled run executes, in the
// order they run.
func BatchDetectors() []Detector {
	return []Detector{
		AfterHours{}, Terminated{},
		NoClinicalRelationship{}, BreakGlassUnexplained{},
		SelfLookup{}, FamilyMemberLookup{}, CoworkerLookup{},
		RestrictedPatientAccess{}, DeceasedPatientAccess{},
		ImpossibleTravel{}, NewCountry{}, BruteForce{}, ConcurrentSessions{},
		ExternalForwarding{}, PersonalWebmail{}, MassMailboxAccess{}, DormantReuse{},
		VolumeDistinctPatients{}, BulkExport{},
		BulkReadThenWebmail{}, EHRDuringUnusualVPN{},
	}
}
