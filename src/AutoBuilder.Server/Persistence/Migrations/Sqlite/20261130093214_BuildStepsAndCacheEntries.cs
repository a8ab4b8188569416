using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace AutoBuilder.Server.Persistence.Migrations.Sqlite
{
    /// <inheritdoc />
    public partial class BuildStepsAndCacheEntries : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.CreateTable(
                name: "build_steps",
                columns: table => new
                {
                    Id = table.Column<long>(type: "INTEGER", nullable: false)
                        .Annotation("Sqlite:Autoincrement", true),
                    BuildId = table.Column<string>(type: "TEXT", nullable: false),
                    Index = table.Column<int>(type: "INTEGER", nullable: false),
                    Name = table.Column<string>(type: "TEXT", maxLength: 200, nullable: false),
                    Status = table.Column<string>(type: "TEXT", maxLength: 16, nullable: false),
                    ExitCode = table.Column<int>(type: "INTEGER", nullable: true),
                    StartedAt = table.Column<long>(type: "INTEGER", nullable: true),
                    DurationSeconds = table.Column<double>(type: "REAL", nullable: true)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_build_steps", x => x.Id);
                });

            migrationBuilder.CreateTable(
                name: "cache_entries",
                columns: table => new
                {
                    Id = table.Column<string>(type: "TEXT", nullable: false),
                    ProjectId = table.Column<string>(type: "TEXT", maxLength: 63, nullable: false),
                    Toolchain = table.Column<string>(type: "TEXT", maxLength: 32, nullable: false),
                    Key = table.Column<string>(type: "TEXT", maxLength: 200, nullable: false),
                    Size = table.Column<long>(type: "INTEGER", nullable: false),
                    Sha256 = table.Column<string>(type: "TEXT", maxLength: 64, nullable: false),
                    CreatedAt = table.Column<long>(type: "INTEGER", nullable: false),
                    LastUsedAt = table.Column<long>(type: "INTEGER", nullable: false),
                    BuildId = table.Column<string>(type: "TEXT", nullable: true)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_cache_entries", x => x.Id);
                });

            migrationBuilder.CreateIndex(
                name: "IX_build_steps_BuildId_Index",
                table: "build_steps",
                columns: new[] { "BuildId", "Index" },
                unique: true);

            migrationBuilder.CreateIndex(
                name: "IX_cache_entries_ProjectId_LastUsedAt",
                table: "cache_entries",
                columns: new[] { "ProjectId", "LastUsedAt" });

            migrationBuilder.CreateIndex(
                name: "IX_cache_entries_ProjectId_Toolchain_Key",
                table: "cache_entries",
                columns: new[] { "ProjectId", "Toolchain", "Key" },
                unique: true);
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(
                name: "build_steps");

            migrationBuilder.DropTable(
                name: "cache_entries");
        }
    }
}
