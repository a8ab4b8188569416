using System;
using Microsoft.EntityFrameworkCore.Migrations;
using Npgsql.EntityFrameworkCore.PostgreSQL.Metadata;

#nullable disable

namespace AutoBuilder.Server.Persistence.Migrations.Postgres
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
                    Id = table.Column<long>(type: "bigint", nullable: false)
                        .Annotation("Npgsql:ValueGenerationStrategy", NpgsqlValueGenerationStrategy.IdentityByDefaultColumn),
                    BuildId = table.Column<string>(type: "text", nullable: false, collation: "C"),
                    Index = table.Column<int>(type: "integer", nullable: false),
                    Name = table.Column<string>(type: "character varying(200)", maxLength: 200, nullable: false, collation: "C"),
                    Status = table.Column<string>(type: "character varying(16)", maxLength: 16, nullable: false),
                    ExitCode = table.Column<int>(type: "integer", nullable: true),
                    StartedAt = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: true),
                    DurationSeconds = table.Column<double>(type: "double precision", nullable: true)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_build_steps", x => x.Id);
                });

            migrationBuilder.CreateTable(
                name: "cache_entries",
                columns: table => new
                {
                    Id = table.Column<string>(type: "text", nullable: false, collation: "C"),
                    ProjectId = table.Column<string>(type: "character varying(63)", maxLength: 63, nullable: false, collation: "C"),
                    Toolchain = table.Column<string>(type: "character varying(32)", maxLength: 32, nullable: false, collation: "C"),
                    Key = table.Column<string>(type: "character varying(200)", maxLength: 200, nullable: false, collation: "C"),
                    Size = table.Column<long>(type: "bigint", nullable: false),
                    Sha256 = table.Column<string>(type: "character varying(64)", maxLength: 64, nullable: false, collation: "C"),
                    CreatedAt = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false),
                    LastUsedAt = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false),
                    BuildId = table.Column<string>(type: "text", nullable: true, collation: "C")
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
